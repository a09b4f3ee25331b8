"""Bad data found before or during training, named by file: all-ignore masks, truncated images, broken labels."""

from __future__ import annotations

import json
import multiprocessing

import numpy as np
import pytest
import yaml
from PIL import Image
from runs import error_of, make_dataset, save_mask, write_config

from idrnet.cli.main import main as cli
from idrnet.engine.config import load_train_config
from idrnet.engine.trainer import train


def test_all_ignore_masks_train_and_are_listed_by_data_check(tmp_path, capsys):
    data = make_dataset(tmp_path / "d")
    masks = sorted((data / "masks" / "train").glob("*.png"))
    for mask in masks[:2]:
        save_mask(mask, np.full((32, 32), 255))
    save_mask(masks[2], np.pad(np.full((1, 1), 3), ((0, 31), (0, 31)), constant_values=255))  # one pixel
    assert cli(["data", "check", str(data)]) == 0
    out = capsys.readouterr().out
    assert "no labelled pixel" in out and masks[0].name in out and masks[1].name in out
    from idrnet.data import transforms as T

    crop = T.RandomCrop((16, 16))({"image": np.zeros((32, 40, 3), np.uint8), "label": np.full((32, 40), 255)},
                                   np.random.default_rng(0))
    assert crop["image"].shape[:2] == (16, 16) and crop["label"].shape == (16, 16)
    # a batch made only of unlabelled samples: loss 0, no NaN, training goes on and resumes
    config = load_train_config(write_config(tmp_path, data, iterations=4, batch_size=2, checkpoint_interval=2,
                                            data={"root": str(data), "scale": [64, 32], "crop": [16, 16],
                                                  "num_workers": 0}))
    result = train(config)
    assert result["iteration"] == 4
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss_total"]) for r in log if "loss_total" in r)


def test_truncated_images_are_found_by_check_training_and_predict(tmp_path, capsys):
    data = make_dataset(tmp_path / "d")
    image = sorted((data / "images" / "train").glob("*.png"))[1]
    jpg = image.with_suffix(".jpg")
    rgb = np.asarray(Image.open(image).convert("RGB")).copy()
    rgb[::2] = np.random.default_rng(0).integers(0, 255, rgb[::2].shape)  # enough entropy for a long file
    Image.fromarray(rgb).save(jpg, quality=95)
    image.unlink()
    jpg.write_bytes(jpg.read_bytes()[:-300])
    assert cli(["data", "check", str(data), "--split", "train"]) == 1
    out = capsys.readouterr().out
    assert jpg.name in out and "truncated" in out
    config = write_config(tmp_path, data, iterations=2, batch_size=4)
    err = error_of(capsys, ["train", str(config)])
    assert jpg.name in err and "truncated" in err


def test_broken_val_label_and_empty_split_are_found_before_training(tmp_path, capsys):
    data = make_dataset(tmp_path / "d")
    val_mask = sorted((data / "masks" / "val").glob("*.png"))[0]
    save_mask(val_mask, np.full((32, 32), 77))
    (data / "images" / "test").mkdir()
    (data / "masks" / "test").mkdir()
    assert cli(["data", "check", str(data)]) == 1
    out = capsys.readouterr().out
    assert "== split val" in out and val_mask.name in out and "77" in out
    assert "== split test" in out and "no samples" in out
    assert cli(["data", "check", str(data), "--split", "train"]) == 0


def test_dataloader_worker_errors_are_one_line_naming_the_file(tmp_path, capsys):
    data = make_dataset(tmp_path / "d")
    mask = sorted((data / "masks" / "train").glob("*.png"))[0]
    save_mask(mask, np.full((32, 32), 42))
    config = write_config(tmp_path, data, batch_size=4,
                          data={"root": str(data), "scale": [64, 32], "crop": [32, 32], "num_workers": 1})
    before = {p.pid for p in multiprocessing.active_children()}
    err = error_of(capsys, ["train", str(config)])
    assert mask.name in err and "42" in err and "Original Traceback" not in err
    assert "BadSampleError" not in err  # "idrnet.data.labels.BadSampleError: …" kept its dotted type name
    # The failed loader's worker is gone at once: one left alive (it ignores SIGTERM) made the test
    # process wait for it forever at exit.
    assert {p.pid for p in multiprocessing.active_children()} <= before


def _save_with_orientation(path, rgb: np.ndarray, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation  # EXIF Orientation, as a phone camera writes it
    Image.fromarray(rgb).save(path, quality=100, exif=exif.tobytes())


def test_exif_oriented_photos_are_read_upright_as_viewers_show_them(tmp_path, capsys):
    """A phone photo stored sideways with an EXIF orientation is read as viewers (and the reference's and
    mmseg's cv2 reads) show it; a label drawn on the unrotated pixels is named with the reason."""
    from PIL import ImageOps

    from idrnet.data.labels import read_image

    rng = np.random.default_rng(0)
    stored = np.kron(rng.integers(0, 255, (4, 5, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))  # 32 × 40
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}.jpg"
        _save_with_orientation(path, stored, orientation)
        with Image.open(path) as img:
            upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))  # PIL's independent reading
        got = read_image(path)
        assert got.shape == upright.shape, orientation
        assert np.abs(got.astype(int) - upright).max() <= 8, orientation

    data = make_dataset(tmp_path / "d", size=32)
    image = sorted((data / "images" / "train").glob("*.png"))[0]
    mask = data / "masks" / "train" / image.name
    upright = np.asarray(Image.open(image).convert("RGB"))[:, :24]  # 24 wide, 32 high
    Image.fromarray(np.asarray(Image.open(mask))[:, :24]).save(mask)
    image.unlink()
    # stored sideways (32 wide, 24 high) with orientation 6, "turn 90° clockwise to view"
    _save_with_orientation(image.with_suffix(".jpg"), np.rot90(upright, 1).copy(), 6)
    assert cli(["data", "check", str(data), "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "1 image(s) carry an EXIF orientation" in out
    # the label drawn on the pixels as stored (sideways) does not fit the upright image: the reason is named
    Image.fromarray(np.rot90(np.asarray(Image.open(mask)), 1).copy()).save(mask)
    assert cli(["data", "check", str(data), "--split", "train"]) == 1
    out = capsys.readouterr().out
    assert mask.name in out and "EXIF orientation 6" in out and "as stored" in out


def test_binary_masks_saved_as_0_and_255_get_a_hint_from_data_check(tmp_path, capsys):
    """The most common mask mistake: a foreground drawn as 255, the ignore label, so that class never trains."""
    root = tmp_path / "cells"
    (root / "images" / "train").mkdir(parents=True)
    (root / "masks" / "train").mkdir(parents=True)
    (root / "dataset.yaml").write_text("classes: [background, cell]\n")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / "images" / "train" / f"{i}.png")
        mask = np.zeros((16, 16), np.uint8)
        mask[4:12, 4:12] = 255
        save_mask(root / "masks" / "train" / f"{i}.png", mask)
    assert cli(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "classes with no pixel: cell" in out
    assert "25.00% of the mask area is 255, the ignore label" in out and "label_map: {255: 1}" in out
    (root / "dataset.yaml").write_text("classes: [background, cell]\nlabel_map: {255: 1}\n")  # the hint, followed
    assert cli(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "classes with no pixel" not in out and "label_map" not in out and "25.00% ##" in out


def test_masks_saved_as_jpeg_and_images_in_subfolders_are_named_as_such(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name in ("jpeg_masks", "nested"):
        (tmp_path / name / "images" / "train").mkdir(parents=True)
        (tmp_path / name / "masks" / "train").mkdir(parents=True)
        (tmp_path / name / "dataset.yaml").write_text("classes: [a, b]\n")
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / f"jpeg_masks/images/train/{i}.jpg")
        Image.fromarray(np.eye(16, dtype=np.uint8)).save(tmp_path / f"jpeg_masks/masks/train/{i}.jpg")
        for kind in ("images", "masks"):
            (tmp_path / f"nested/{kind}/train/city").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / f"nested/images/train/city/{i}.png")
        save_mask(tmp_path / f"nested/masks/train/city/{i}.png", np.eye(16))
    assert cli(["data", "check", str(tmp_path / "jpeg_masks")]) == 1
    out = capsys.readouterr().out
    assert "2 label file(s) that are not PNG (0.jpg, 1.jpg)" in out and "save the masks as PNG" in out
    assert cli(["data", "check", str(tmp_path / "nested")]) == 1
    out = capsys.readouterr().out
    assert "holds no image but 1 folder(s) (city)" in out and "no subfolders" in out
    config = write_config(tmp_path, tmp_path / "jpeg_masks", model={"num_classes": 2, "backbone": {"name": "resnet18v1c", "base_width": 4},
                                                                   "head": {"type": "fcn", "feats_channels": 8}})
    err = error_of(capsys, ["train", str(config)])
    assert "not PNG" in err and "problem(s) pairing images and labels" in err


def test_colour_coded_masks_are_decoded_with_the_palette_of_dataset_yaml(tmp_path, capsys):
    """ISPRS/CamVid-style masks: an RGB picture in the classes' colours, read as class indices."""
    data = make_dataset(tmp_path / "d", size=32)
    spec = yaml.safe_load((data / "dataset.yaml").read_text())
    palette = np.asarray(spec["palette"])
    masks = sorted((data / "masks").rglob("*.png"))
    before = {m: np.asarray(Image.open(m)).copy() for m in masks}
    before[masks[0]][:2] = 255  # an ignored band
    for mask, index in before.items():
        rgb = np.where((index == 255)[..., None], 255, palette[np.minimum(index, len(palette) - 1)]).astype(np.uint8)
        Image.fromarray(rgb).save(mask)  # 255 (ignored) drawn white
    assert cli(["data", "check", str(data)]) == 1  # white is no class yet: named with its colour
    out = capsys.readouterr().out
    assert "colour(s) not in dataset.yaml's palette or ignore_colours: [255, 255, 255]" in out
    spec["ignore_colours"] = [[255, 255, 255]]
    (data / "dataset.yaml").write_text(yaml.safe_dump(spec))
    assert cli(["data", "check", str(data)]) == 0
    assert "label modes: RGB" in capsys.readouterr().out
    from idrnet.data.datasets.custom import open_custom

    dataset, _ = open_custom(data, "train")
    for i, files in enumerate(dataset.samples):
        expected = before[files.label].astype(np.int32)
        assert np.array_equal(dataset.load(i)["label"], expected)  # the same classes as the index masks
    spec["ignore_colours"] = [spec["palette"][3]]
    (data / "dataset.yaml").write_text(yaml.safe_dump(spec))
    assert cli(["data", "check", str(data)]) == 2
    assert f"{spec['palette'][3]} is both the palette colour of 'cup on table' and an ignore colour" in capsys.readouterr().err
    # one colour for two classes: fine for index masks (a display palette), an error for a colour-coded one
    spec["ignore_colours"], spec["palette"][4] = [[255, 255, 255]], spec["palette"][3]
    (data / "dataset.yaml").write_text(yaml.safe_dump(spec))
    assert cli(["data", "check", str(data)]) == 1
    assert "the palette gives classes [3, 4] one colour" in capsys.readouterr().out
    index = make_dataset(tmp_path / "index", size=32)
    (index / "dataset.yaml").write_text(yaml.safe_dump({**spec, "ignore_colours": []}))
    assert cli(["data", "check", str(index)]) == 0


def test_a_dataset_listing_only_its_foreground_class_is_refused_naming_the_background(tmp_path, capsys):
    """classes: [crack] with masks of 0 (background) and 1 (crack): one class trains nothing."""
    data = make_dataset(tmp_path / "d")
    (data / "dataset.yaml").write_text("classes: [crack]\n")
    err = error_of(capsys, ["data", "check", str(data)])
    assert "classes: ['crack'] holds 1 class(es)" in err and "classes: [background, crack]" in err
    (data / "dataset.yaml").write_text("classes: [background, crack, crack]\n")
    assert "'crack' listed twice" in error_of(capsys, ["data", "check", str(data)])
    import idrnet

    with pytest.raises(ValueError, match="model.num_classes: expected at least 2"):
        idrnet.create_model("idrnet_fcn_resnet50os8_ade20k", num_classes=1)


def test_classes_written_as_an_id_to_name_mapping_are_read_as_the_list(tmp_path, capsys):
    """classes: {0: background, 1: crack} (Hugging Face's id2label, YOLO's names) was "expected a list, got
    dict": read as the list it stands for; ids that are not 0 … K−1 are named."""
    from idrnet.data.datasets.custom import load_spec

    data = make_dataset(tmp_path / "d")
    names = load_spec(data).classes
    (data / "dataset.yaml").write_text("classes:\n" + "".join(f"  {i}: {names[i]}\n" for i in reversed(range(len(names)))))
    assert load_spec(data).classes == names
    assert cli(["data", "check", str(data)]) == 0
    capsys.readouterr()
    (data / "dataset.yaml").write_text("classes: {0: background, 2: crack}\n")
    assert "needs each id 0 … 1 once; missing 1" in error_of(capsys, ["data", "check", str(data)])


def test_an_ignore_index_that_is_a_class_is_refused(tmp_path, capsys):
    """ignore_index: 1 with classes [background, crack, hole] dropped every crack pixel from training and
    scoring without a word ("no problems found"); -1 and 255 are not classes and stay allowed."""
    data = make_dataset(tmp_path / "d")
    (data / "dataset.yaml").write_text("classes: [background, crack, hole]\nignore_index: 1\n")
    err = error_of(capsys, ["data", "check", str(data)])
    assert "ignore_index 1 is the index of class 'crack'" in err and "label_map" in err
    for allowed in (-1, 3, 255):
        (data / "dataset.yaml").write_text(f"classes: [background, crack, hole]\nignore_index: {allowed}\n")
        from idrnet.data.datasets.custom import load_spec

        assert load_spec(data).ignore_index == allowed


def test_a_32_bit_mask_of_huge_values_is_named_without_a_table_of_billions(tmp_path):
    """The value table was sized by the mask's largest value: 2**31 - 1 asked for 16 GB."""
    from idrnet.data.labels import BadSampleError, LabelMap

    raw = np.zeros((4, 4), np.int64)
    raw[0, 0] = 2**31 - 1
    with pytest.raises(BadSampleError, match=r"label values \[2147483647\] map to no class"):
        LabelMap(11)(raw, tmp_path / "m.png")
    raw[0, 0] = 255  # still the ignore label, and mapped values above 255 still work
    assert LabelMap(11)(raw)[0, 0] == 255
    assert LabelMap(19, mapping={26001: 3})(np.full((2, 2), 26001))[0, 0] == 3


def test_folders_without_dataset_yaml_say_what_they_are(tmp_path, capsys):
    """A benchmark's download, COCO JSON annotations and a dataset's images/ folder given as the dataset were
    all answered "dataset.yaml does not exist" with no next step."""
    voc = tmp_path / "VOC"
    for folder in ("VOCdevkit/VOC2012/JPEGImages", "VOCdevkit/VOC2012/SegmentationClass"):
        (voc / folder).mkdir(parents=True)
    assert "has the layout of the voc benchmark" in error_of(capsys, ["data", "check", str(voc)])
    city = tmp_path / "city"
    (city / "leftImg8bit" / "train").mkdir(parents=True)
    (city / "gtFine" / "train").mkdir(parents=True)
    assert "set data.type: cityscapes" in error_of(capsys, ["data", "check", str(city)])
    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "annotations" / "instances_train2017.json").write_text('{"images": [], "annotations": []}')
    assert "JSON annotations (COCO-style polygons), which idrnet does not read" in error_of(capsys, ["data", "check", str(coco)])
    mine = make_dataset(tmp_path / "mine")
    err = error_of(capsys, ["data", "check", str(mine / "images")])
    assert f"exists: give the dataset's own folder, {mine}" in err


def test_masks_with_one_class_more_than_listed_get_a_hint(tmp_path, capsys):
    """A dataset.yaml that leaves out the background (or masks counting from 1) only said "label values [K]
    map to no class"."""
    from idrnet.data.labels import BadSampleError, LabelMap

    with pytest.raises(BadSampleError, match=r"\[3\] map to no class .*; 3 is one class more than the 3 listed: a "
                                             r"class missing from the list \(often the background, mask value 0\), "
                                             r"or masks that count classes from 1 \(label_shift: 1\)"):
        LabelMap(3)(np.array([[1, 2], [3, 3]]), tmp_path / "m.png")
    with pytest.raises(BadSampleError) as other:
        LabelMap(3)(np.array([[1, 7]]), tmp_path / "m.png")
    assert "one class more" not in str(other.value)  # only the off-by-one case gets the hint
    data = make_dataset(tmp_path / "d")
    spec = yaml.safe_load((data / "dataset.yaml").read_text())
    spec["classes"] = spec["classes"][:-1]
    spec.pop("palette", None)
    (data / "dataset.yaml").write_text(yaml.safe_dump(spec))
    assert cli(["data", "check", str(data)]) == 1
    assert f"is one class more than the {len(spec['classes'])} listed" in capsys.readouterr().out
