"""Datasets in their on-disk layouts, label mappings, transforms, bad samples, synth and check."""

from pathlib import Path

import numpy as np
import yaml
import pytest
import scipy.io
import torch
from PIL import Image

from idrnet.cli.main import main as cli
from idrnet.data import transforms as T
from idrnet.data.datasets.benchmarks import BENCHMARKS, build_benchmark
from idrnet.data.datasets.custom import build_custom
from idrnet.data.labels import BadSampleError
from idrnet.data.synth import write_synthetic_dataset


def save_rgb(path: Path, h=24, w=32, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def save_label(path: Path, array, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(array, np.uint8), mode="L")
    if mode == "P":
        img = img.convert("P")
        img.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    img.save(path)


def test_ade20k_zero_is_ignored_and_ids_shift(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    save_rgb(root / "images/training/a.jpg")
    label = np.zeros((24, 32), np.uint8)
    label[:, 10:] = 1
    label[:, 20:] = 150
    save_label(root / "annotations/training/a.png", label)
    ds = build_benchmark("ade20k", tmp_path, "train")
    out = ds.load(0)["label"]
    assert out[0, 0] == 255 and out[0, 10] == 0 and out[0, 25] == 149


def test_cityscapes_label_ids_map_to_the_19_train_ids(tmp_path):
    # The official table: labelId of each of the 19 evaluated classes, in trainId order.
    official = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
    label = np.array([official + [0, 1, 4, 6, 9, 10, 14, 15, 16, 18, 29, 30, 34]], np.uint8).repeat(4, 0)
    img = tmp_path / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    save_rgb(img, *label.shape)
    save_label(tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png", label)
    out = build_benchmark("cityscapes", tmp_path, "train").load(0)["label"][0]
    assert out[:19].tolist() == list(range(19))
    assert (out[19:] == 255).all()


def test_cocostuff10k_mat_annotations(tmp_path):
    (tmp_path / "imageLists").mkdir()
    (tmp_path / "imageLists/train.txt").write_text("COCO_1\n")
    save_rgb(tmp_path / "images/COCO_1.jpg", 4, 4)
    (tmp_path / "annotations").mkdir()
    scipy.io.savemat(tmp_path / "annotations/COCO_1.mat", {"S": np.array([[0, 1, 182, 255]] * 4, np.uint8)})
    out = build_benchmark("cocostuff10k", tmp_path, "train").load(0)["label"]
    assert out[0].tolist() == [255, 0, 181, 255]


def test_voc_palette_png_with_ignore_border(tmp_path):
    base = tmp_path / "VOCdevkit/VOC2012"
    (base / "ImageSets/Segmentation").mkdir(parents=True)
    (base / "ImageSets/Segmentation/trainaug.txt").write_text("2007_000032\n")
    save_rgb(base / "JPEGImages/2007_000032.jpg", 8, 8)
    label = np.full((8, 8), 255, np.uint8)
    label[2:6, 2:6] = 15
    label[3, 3] = 0
    save_label(base / "SegmentationClassAug/2007_000032.png", label, mode="P")
    out = build_benchmark("voc", tmp_path, "trainaug").load(0)["label"]
    assert out[0, 0] == 255 and out[2, 2] == 15 and out[3, 3] == 0


def test_pascal_context59_and_lip_and_cihp_lists(tmp_path):
    pc = tmp_path / "pc/VOCdevkit/VOC2010"
    (pc / "ImageSets/SegmentationContext").mkdir(parents=True)
    (pc / "ImageSets/SegmentationContext/val.txt").write_text("2008_000002\n")
    save_rgb(pc / "JPEGImages/2008_000002.jpg", 4, 4)
    save_label(pc / "SegmentationClassContext/2008_000002.png", [[0, 1, 59, 255]] * 4)
    assert build_benchmark("pascal_context59", tmp_path / "pc", "val").load(0)["label"][0].tolist() == [255, 0, 58, 255]

    lip = tmp_path / "LIP"
    (lip / "val_id.txt").parent.mkdir(parents=True)
    (lip / "val_id.txt").write_text("100034_483681\n")
    save_rgb(lip / "val_images/100034_483681.jpg", 4, 4)
    save_label(lip / "val_segmentations/100034_483681.png", [[0, 14, 15, 19]] * 4)
    assert build_benchmark("lip", lip, "val").load(0)["label"][0].tolist() == [0, 14, 15, 19]

    cihp = tmp_path / "CIHP"
    (cihp / "Training").mkdir(parents=True)
    (cihp / "Training/train_id.txt").write_text("15\n")
    save_rgb(cihp / "Training/Images/0000015.jpg", 4, 4)
    save_label(cihp / "Training/Category_ids/0000015.png", [[0, 1, 2, 3]] * 4)
    assert build_benchmark("cihp", cihp, "train").samples[0].id == "0000015"


def test_every_benchmark_has_names_and_colours_for_each_class():
    for name, b in BENCHMARKS.items():
        assert len(b.info.classes) == len(b.info.palette) == b.label_map.num_classes, name
    assert BENCHMARKS["lip"].info.classes[14:16] == ("leftArm", "rightArm")


def test_flip_swaps_left_right_classes():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    label = np.array([[14, 0, 16], [15, 19, 1]], np.int32)
    out = T.RandomFlip(1.0, ((14, 15), (16, 17), (18, 19)))({"image": image, "label": label}, np.random.default_rng(0))
    assert out["label"].tolist() == [[17, 0, 15], [1, 18, 14]]
    assert np.array_equal(out["image"], image[:, ::-1])


def test_random_crop_avoids_one_dominant_class():
    label = np.zeros((100, 100), np.int32)
    label[:, 50:] = 1  # about a third of all 40×40 crops have no class above 75 %

    def balanced(out):
        counts = np.bincount(out["label"].ravel())
        counts = counts[counts > 0]
        return len(counts) > 1 and counts.max() / counts.sum() < 0.75

    sample = {"image": np.zeros((100, 100, 3), np.uint8), "label": label}
    with_retries = sum(balanced(T.RandomCrop((40, 40), 0.75)(dict(sample), np.random.default_rng(s))) for s in range(40))
    single_try = sum(balanced(T.RandomCrop((40, 40), 1.01)(dict(sample), np.random.default_rng(s))) for s in range(40))
    assert with_retries >= 37 and single_try <= 25


def test_resize_keep_ratio_matches_the_official_rule():
    sample = {"image": np.zeros((100, 200, 3), np.uint8), "label": np.zeros((100, 200), np.int32)}
    out = T.Resize((2048, 512))(sample, np.random.default_rng(0))
    assert out["image"].shape[:2] == (512, 1024) and out["label"].shape == (512, 1024)
    out = T.Resize((520, 520), keep_ratio=False)({"image": np.zeros((300, 200, 3), np.uint8)}, np.random.default_rng(0))
    assert out["image"].shape[:2] == (520, 520)


def test_pipeline_is_deterministic_and_pads_with_ignore():
    pipeline = T.train_pipeline((256, 64), (64, 64), swap_pairs=((1, 2),), rotate=True)
    rng_image = np.random.default_rng(5)
    sample = {"image": rng_image.integers(0, 255, (40, 50, 3), dtype=np.uint8),
              "label": rng_image.integers(0, 3, (40, 50)).astype(np.int32)}
    a = pipeline({k: v.copy() for k, v in sample.items()}, np.random.default_rng(1))
    b = pipeline({k: v.copy() for k, v in sample.items()}, np.random.default_rng(1))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert a["image"].shape == (3, 64, 64) and a["label"].dtype == torch.int64
    small = T.ToTensor(pad_to=(8, 8))({"image": np.zeros((4, 6, 3), np.uint8), "label": np.zeros((4, 6), np.int32)})
    assert (small["label"][:2] == 255).all() and (small["label"][2:6, 1:7] == 0).all()


def test_bad_samples_name_the_file_or_are_skipped(tmp_path):
    write_synthetic_dataset(tmp_path, 4, 1, 32, seed=1, progress=False)
    masks = sorted((tmp_path / "masks/train").glob("*.png"))
    save_label(masks[0], np.full((32, 32), 42, np.uint8))  # value beyond the 11 classes
    save_label(masks[1], np.zeros((16, 32), np.uint8))  # wrong size
    masks[2].write_bytes(masks[2].read_bytes()[:40])  # truncated
    ds = build_custom(tmp_path, "train")
    with pytest.raises(BadSampleError, match=f"{masks[0].name}.*42"):
        ds[0]
    with pytest.raises(BadSampleError, match="size"):
        ds[1]
    with pytest.raises(BadSampleError, match="truncated|unreadable"):
        ds[2]
    ds = build_custom(tmp_path, "train", skip_bad=True)
    assert ds[0]["id"] == ds.samples[3].id and len(ds.skipped) == 3


def test_rgb_label_is_refused_and_gray_or_rgba_images_are_converted(tmp_path):
    write_synthetic_dataset(tmp_path, 2, 1, 16, progress=False)
    image = sorted((tmp_path / "images/train").glob("*.png"))[0]
    Image.open(image).convert("L").save(image)
    image2 = sorted((tmp_path / "images/train").glob("*.png"))[1]
    Image.open(image2).convert("RGBA").save(image2)
    ds = build_custom(tmp_path, "train")
    assert ds.load(0)["image"].shape == (16, 16, 3) and ds.load(1)["image"].shape == (16, 16, 3)
    mask = sorted((tmp_path / "masks/train").glob("*.png"))[0]
    Image.fromarray(np.full((16, 16, 3), 5, np.uint8)).save(mask)  # grey (5, 5, 5): no class colour of the palette
    with pytest.raises(BadSampleError, match=r"colour\(s\) not in dataset.yaml's palette"):
        ds.load(0)
    spec = yaml.safe_load((tmp_path / "dataset.yaml").read_text())
    del spec["palette"]  # without a palette there is nothing to decode colours with
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(BadSampleError, match="mode RGB.*decodes them with the palette"):
        build_custom(tmp_path, "train").load(0)


def test_custom_dataset_label_map_and_unpaired_files(tmp_path):
    write_synthetic_dataset(tmp_path, 2, 1, 16, progress=False)
    spec = (tmp_path / "dataset.yaml").read_text() + "label_map: {0: 255}\n"
    (tmp_path / "dataset.yaml").write_text(spec)
    assert (build_custom(tmp_path, "train").load(0)["label"] != 0).all()
    save_rgb(tmp_path / "images/train/orphan.png", 16, 16)
    with pytest.raises(FileNotFoundError, match="orphan"):
        build_custom(tmp_path, "train")


def test_synth_is_deterministic_for_a_seed(tmp_path):
    a = write_synthetic_dataset(tmp_path / "a", 3, 1, 64, seed=7, progress=False)
    b = write_synthetic_dataset(tmp_path / "b", 3, 1, 64, seed=7, progress=False)
    c = write_synthetic_dataset(tmp_path / "c", 3, 1, 64, seed=8, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files)


def test_context_classes_never_meet_the_wrong_context(tmp_path):
    from idrnet.data.synth import AMBIGUOUS, render_scene

    for i in range(40):
        _, label = render_scene(np.random.default_rng([3, 0, i]), 64)
        present = set(np.unique(label).tolist())
        for cls, context in AMBIGUOUS.items():
            if cls in present:
                assert context in present


def test_data_check_cli(tmp_path, capsys):
    write_synthetic_dataset(tmp_path, 3, 1, 32, progress=False)
    assert cli(["data", "check", str(tmp_path)]) == 0
    assert "no problems found" in capsys.readouterr().out
    mask = sorted((tmp_path / "masks/train").glob("*.png"))[0]
    save_label(mask, np.full((32, 32), 99, np.uint8))
    (tmp_path / "masks/train/stray.png").write_bytes(mask.read_bytes())
    assert cli(["data", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert mask.name in out and "99" in out and "stray" in out


def test_dataloader_workers_give_the_same_samples(tmp_path):
    write_synthetic_dataset(tmp_path, 4, 1, 32, progress=False)
    ds = build_custom(tmp_path, "train", pipeline=T.train_pipeline((64, 32), (32, 32)), seed=3)
    serial = [ds[i]["image"] for i in range(4)]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=lambda b: b)
    parallel = [s["image"] for batch in loader for s in batch]
    assert all(torch.equal(x, y) for x, y in zip(serial, parallel))


@pytest.mark.parametrize("name", ["ade20k_512x512", "cityscapes_512x1024", "lip_473x473"])
def test_official_recipes_produce_crop_sized_tensors(name):
    from idrnet.data.official import RECIPES

    recipe = RECIPES[name]
    rng = np.random.default_rng(0)
    sample = {"image": rng.integers(0, 255, (300, 400, 3), dtype=np.uint8),
              "label": rng.integers(0, 19, (300, 400)).astype(np.int32)}
    out = recipe.train()({k: v.copy() for k, v in sample.items()}, np.random.default_rng(1))
    assert tuple(out["image"].shape[1:]) == recipe.crop == tuple(out["label"].shape)
    test = recipe.test()({k: v.copy() for k, v in sample.items()}, np.random.default_rng(1))
    assert test["label"].shape == (300, 400)  # labels stay at their original size for evaluation


def test_data_check_of_a_benchmark_reports_missing_files(tmp_path, capsys):
    from idrnet.cli.main import main as cli

    for split in ("training", "validation"):
        (tmp_path / "ade" / "images" / split).mkdir(parents=True)
        (tmp_path / "ade" / "annotations" / split).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ade" / "images" / split / "a.jpg")
    Image.fromarray(np.ones((8, 8), np.uint8)).save(tmp_path / "ade" / "annotations" / "training" / "a.png")
    spec = tmp_path / "bench.yaml"
    spec.write_text("dataset: ade20k\nroot: ade\n")
    assert cli(["data", "check", str(spec), "--split", "train"]) == 0
    assert cli(["data", "check", str(spec), "--split", "val"]) == 1
    assert "missing label" in capsys.readouterr().out
    assert cli(["data", "check", str(spec), "--split", "test"]) == 2
