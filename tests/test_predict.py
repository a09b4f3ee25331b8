"""Predictor, idrnet predict (images, folders, videos), idrnet compare and idrnet relations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from idrnet import Predictor, build_model, save_checkpoint
from idrnet.cli.main import main
from idrnet.evaluation.compare import paired_bootstrap


@pytest.fixture(scope="module")
def predictor(trained):
    _, ckpt, _ = trained
    return Predictor(ckpt)


@pytest.mark.parametrize("make", [
    lambda rng: rng.integers(0, 256, (37, 51, 3), dtype=np.uint8),  # RGB array
    lambda rng: rng.integers(0, 256, (37, 51), dtype=np.uint8),  # grayscale
    lambda rng: rng.integers(0, 256, (37, 51, 4), dtype=np.uint8),  # RGBA
    lambda rng: Image.fromarray(rng.integers(0, 256, (37, 51, 3), dtype=np.uint8)).convert("L"),  # PIL gray
    lambda rng: torch.rand(3, 37, 51),  # float CHW tensor
    lambda rng: rng.random((37, 51, 3)).astype(np.float32),  # float HWC array
])
def test_predict_returns_a_label_map_at_the_input_size(predictor, make):
    labels = predictor.predict(make(np.random.default_rng(0)))
    assert labels.shape == (37, 51) and labels.dtype == np.uint8 and labels.max() < 11


def test_predictor_knows_class_names_and_reads_paths(predictor, trained, tmp_path):
    _, _, data = trained
    assert predictor.class_names[3] == "cup on table"
    path = sorted((data / "images" / "val").iterdir())[0]
    assert predictor.predict(path).shape == Image.open(path).size[::-1]
    probs = predictor.predict_proba(path)
    assert isinstance(probs, np.ndarray) and probs.shape[0] == 11 and np.allclose(probs.sum(0), 1, atol=1e-4)


def test_predict_cli_on_a_folder_and_a_video(trained, tmp_path):
    _, ckpt, data = trained
    video = _video(tmp_path / "clip.mp4", frames=5, width=56, height=40, step=40)
    out = tmp_path / "out"
    val = data / "images" / "val"
    assert main(["predict", str(val), str(video), "--model", str(ckpt), "--out", str(out),
                 "--probs", "--labels", "--device", "cpu"]) == 0
    # outputs mirror the inputs' paths below their common folder
    common = Path(os.path.commonpath([val.resolve(), tmp_path.resolve()]))
    images_out = out / val.resolve().relative_to(common)
    stems = [p.stem for p in sorted(val.iterdir())]
    for stem in stems:
        label = Image.open(images_out / f"{stem}.png")
        assert label.mode == "P" and label.size == (48, 48)
        assert (images_out / f"{stem}_overlay.jpg").is_file()
        assert np.load(images_out / f"{stem}_probs.npy").shape == (11, 48, 48)
    video_out = out / tmp_path.resolve().relative_to(common)
    capture = cv2.VideoCapture(str(video_out / "clip_overlay.mp4"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 5 and len(list((video_out / "clip_labels").glob("*.png"))) == 5


def test_predict_names_a_bad_video_and_skips_it_when_asked(trained, tmp_path, capsys):
    """An empty or cut video stopped the run even with --skip-bad, and the summary counted 0 images."""
    _, ckpt, _ = trained
    inputs = tmp_path / "in"
    inputs.mkdir()
    _video(inputs / "good.mp4", frames=2, step=90)
    (inputs / "empty.mp4").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "empty.mp4: cannot open this video" in err and "--skip-bad" in err
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(out), "--skip-bad"]) == 0
    assert "0 image(s) and 1 video(s)" in capsys.readouterr().out
    assert (out / "good_overlay.mp4").is_file() and "empty.mp4" in (out / "skipped.txt").read_text()


def test_an_image_too_large_for_memory_is_named_and_skipped_when_asked(trained, tmp_path, capsys, monkeypatch):
    """One image of a folder that ran out of memory stopped the run with "internal error … a bug in idrnet",
    without naming it, and --skip-bad did not skip it (re-running hit it again): the image is named with
    what to do, and --skip-bad lists it in skipped.txt and goes on."""
    _, ckpt, _ = trained
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(inputs / "small.png")
    Image.fromarray(np.zeros((90, 60, 3), np.uint8)).save(inputs / "large.png")
    real = Predictor.predict

    def predict(self, image, *args, **kwargs):
        if np.asarray(image).shape[0] == 90:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 53687091200 bytes.")
        return real(self, image, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict", predict)
    out = tmp_path / "out"
    argv = ["predict", str(inputs), "--model", str(ckpt), "--out", str(out), "--no-test-resize"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "large.png: out of memory on this 90x60 image (an allocation of 50.0 GiB failed); pass --skip-bad" in err
    assert main([*argv, "--skip-bad", "--overwrite"]) == 0
    assert (out / "small.png").is_file() and not (out / "large.png").exists()
    assert "large.png: out of memory" in (out / "skipped.txt").read_text()


def test_a_cut_video_is_one_line_on_stderr(trained, tmp_path):
    """FFmpeg printed its own "[mov,mp4,…] moov atom not found" before our one-line error (written by the C
    library to the process's stderr, so this runs a process)."""
    import subprocess
    import sys

    _, ckpt, _ = trained
    data = _video(tmp_path / "whole.mp4", frames=10, step=20).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])
    done = subprocess.run([sys.executable, "-m", "idrnet.cli.main", "predict", str(tmp_path / "cut.mp4"), "--model",
                           str(ckpt), "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"idrnet predict: error: {tmp_path / 'cut.mp4'}: cannot open this video "
                                                "(empty, cut short or not a video) (pass --skip-bad to skip such files and "
                                                "list them)"], done.stderr


def _video(path: Path, frames: int, width: int = 32, height: int = 24, step: int = 20) -> Path:
    """An mp4 of ``frames`` grey frames, ``step`` brighter each."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (width, height))
    for i in range(frames):
        writer.write(np.full((height, width, 3), step * i, dtype=np.uint8))
    writer.release()
    return path


def _image(path, size=(20, 30), value=90):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)
    return path


def test_predict_never_writes_over_inputs_and_keeps_same_names_apart(trained, tmp_path, capsys):
    _, ckpt, _ = trained
    inputs = tmp_path / "in"
    a, b = _image(inputs / "x" / "img.png"), _image(inputs / "y" / "img.png", value=200)
    jpg = _image(inputs / "x" / "img.jpg")
    before = {p: p.read_bytes() for p in (a, b, jpg)}
    # the output folder may not be (or lie inside) an input folder
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(inputs)]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(inputs / "x" / "preds")]) == 2
    capsys.readouterr()
    assert {p: p.read_bytes() for p in before} == before and not (inputs / "x" / "preds").exists()
    # x/img.png and y/img.png keep their folders; img.jpg beside img.png gets its suffix in the name
    out = tmp_path / "out"
    assert main(["predict", str(inputs / "x"), str(inputs / "y"), "--model", str(ckpt), "--out", str(out)]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["x/img_jpg.png", "x/img_png.png", "y/img.png"]
    # a second run does not replace the first one's results unless asked
    assert main(["predict", str(b), "--model", str(ckpt), "--out", str(out / "y")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["predict", str(b), "--model", str(ckpt), "--out", str(out / "y"), "--overwrite"]) == 0


def test_predict_refuses_names_that_differ_only_in_case_when_the_out_disk_ignores_case(trained, tmp_path, capsys,
                                                                                         monkeypatch):
    """IMG.png and img.png (made on a Linux disk) written to a disk that ignores case (macOS, Windows, a USB
    stick) were one file: the second image's label and overlay replaced the first's without a word."""
    import idrnet.cli.predict as predict_cli

    _, ckpt, _ = trained
    inputs = tmp_path / "in"
    _image(inputs / "IMG.png"), _image(inputs / "img.png", value=200)
    assert not predict_cli.ignores_case(tmp_path / "not" / "yet")  # this machine's disk keeps case apart
    out = tmp_path / "out"
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["IMG.png", "img.png"]
    monkeypatch.setattr(predict_cli, "ignores_case", lambda folder: True)
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(tmp_path / "usb")]) == 2
    err = capsys.readouterr().err
    assert "IMG.png and" in err and "img.png differ only in case" in err and "which ignores case; rename one" in err
    assert not (tmp_path / "usb").exists()


def test_predict_expands_wildcard_patterns_the_shell_passed_on(trained, tmp_path, capsys):
    """"imgs/*.png" (quoted, or from Windows' shells, which never expand it) was "imgs/*.png does not exist"."""
    _, ckpt, _ = trained
    inputs = tmp_path / "in"
    for name in ("a/one.png", "a/two.png", "b/three.png", "b/notes.png.txt"):
        _image(inputs / name) if name.endswith(".png") else (inputs / name).write_text("x")
    out = tmp_path / "out"
    assert main(["predict", str(inputs / "**" / "*.png"), "--model", str(ckpt), "--out", str(out)]) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == ["a/one.png", "a/two.png", "b/three.png"]
    assert main(["predict", str(inputs / "a" / "t*.png"), "--model", str(ckpt), "--out", str(tmp_path / "o2")]) == 0
    assert sorted(p.name for p in (tmp_path / "o2").glob("*.png")) == ["two.png"]
    assert main(["predict", str(inputs / "c*" / "*.png"), "--model", str(ckpt), "--out", str(tmp_path / "o3")]) == 2
    assert "c*/*.png: no file or folder matches this pattern" in capsys.readouterr().err


def test_predict_stops_at_a_truncated_image_or_skips_it_when_asked(trained, tmp_path, capsys):
    _, ckpt, _ = trained
    inputs = tmp_path / "in"
    _image(inputs / "good.png")
    bad = inputs / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(bad, quality=95)
    bad.write_bytes(bad.read_bytes()[:-400])
    out = tmp_path / "out"
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cut.jpg" in err and "truncated" in err and "--skip-bad" in err
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(out), "--skip-bad", "--overwrite"]) == 0
    assert (out / "good.png").is_file() and not (out / "cut.png").exists()
    assert "cut.jpg" in (out / "skipped.txt").read_text()


def test_predict_names_linked_images_by_their_links_and_reports_a_broken_link(trained, tmp_path, capsys):
    """A folder assembled from links (to images elsewhere) is predicted like any folder; a broken link is
    an unreadable image: named, and listed with --skip-bad (it used to crash, then be silently left out)."""
    _, ckpt, _ = trained
    elsewhere = _image(tmp_path / "store" / "photo.png")
    inputs = tmp_path / "in"
    _image(inputs / "own.png", value=200)
    (inputs / "linked.png").symlink_to(elsewhere)
    out = tmp_path / "out"
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["linked.png", "own.png"]
    (inputs / "gone.png").symlink_to(tmp_path / "store" / "deleted.png")
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "gone.png: a link to" in err and "does not exist" in err and "--skip-bad" in err
    assert main(["predict", str(inputs), "--model", str(ckpt), "--out", str(tmp_path / "out2"), "--skip-bad"]) == 0
    assert "gone.png" in (tmp_path / "out2" / "skipped.txt").read_text()
    assert sorted(p.name for p in (tmp_path / "out2").glob("*.png")) == ["linked.png", "own.png"]


def test_predictor_takes_chw_arrays_encoded_bytes_and_one_pixel_strips(trained):
    _, ckpt, _ = trained
    predictor = Predictor(ckpt, test_scale=(512, 128))
    rgb = np.random.default_rng(0).integers(0, 256, (37, 51, 3), dtype=np.uint8)
    assert np.array_equal(predictor.predict(rgb.transpose(2, 0, 1)), predictor.predict(rgb))
    assert np.array_equal(predictor.predict(cv2.imencode(".png", rgb[..., ::-1])[1].tobytes()), predictor.predict(rgb))
    # a 1-pixel strip used to round to an empty image at the test resize (an OpenCV assertion)
    for shape in ((1, 3000, 3), (3000, 1, 3)):
        assert predictor.predict(np.zeros(shape, np.uint8)).shape == shape[:2]


def test_predictor_refuses_float_images_outside_0_1_instead_of_clipping_them(predictor):
    """A float image in [0, 255] (np.asarray(img, np.float32)) or one already normalised was clipped to
    [0, 1]: a white or black picture, segmented without a word."""
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"floats in \[0, 255\]; expected \[0, 1\].*divide by 255"):
        predictor.predict(rgb.astype(np.float32))
    normalised = (torch.from_numpy(rgb).permute(2, 0, 1).float() / 255 - 0.45) / 0.225
    with pytest.raises(ValueError, match="already normalised"):
        predictor.predict(normalised)
    with pytest.raises(ValueError, match=r"integers in \[-3, 300\]; expected \[0, 255\]"):
        predictor.predict(np.array([[[-3, 0, 300]]], dtype=np.int32).repeat(4, 0).repeat(4, 1))
    # in range (a resize's small overshoot included) it is the uint8 image's prediction
    assert np.array_equal(predictor.predict(np.clip(rgb / 255 + 0.004, 0, 1.01)), predictor.predict(np.clip(rgb.astype(int) + 1, 0, 255)))
    deep = rgb.astype(np.uint16) * 257  # a 16-bit picture: scaled as a 16-bit file is
    assert np.array_equal(predictor.predict(deep), predictor.predict(cv2.imencode(".png", deep[..., ::-1])[1].tobytes()))


def test_pil_images_of_16_bits_and_floats_are_read_as_their_files_are_not_clipped(tmp_path):
    """PIL's convert("RGB") clips 16-bit and float pictures to 0..255: a 16-bit PNG opened with PIL came out
    nearly white (unlike the same file given by its path), a float one in [0, 1] black."""
    from PIL import Image

    from idrnet.apis.predictor import to_rgb_array

    grey = np.random.default_rng(0).integers(0, 256, (20, 30), dtype=np.uint8)
    path = tmp_path / "deep.png"
    Image.fromarray(grey.astype(np.uint16) * 200).save(path)
    with Image.open(path) as opened:
        assert opened.mode.startswith("I")
        assert np.array_equal(to_rgb_array(opened), to_rgb_array(path))
    assert np.array_equal(to_rgb_array(Image.fromarray(grey.astype(np.int32) * 200)), to_rgb_array(path))
    assert np.array_equal(to_rgb_array(Image.fromarray(grey.astype(np.int32)))[..., 0], grey)  # 'I' within 0..255
    assert np.array_equal(to_rgb_array(Image.fromarray(grey.astype(np.float32) / 255))[..., 0], grey)
    with pytest.raises(ValueError, match=r"the image \(PIL mode F\) holds floats in \[.*\]; expected \[0, 1\]"):
        to_rgb_array(Image.fromarray(grey).convert("F"))  # 0..255 floats: refused as for arrays, not clipped
    for nothing in (None, "", "  "):
        with pytest.raises(ValueError, match="expected an image .a path, encoded bytes, a PIL image, an array or a tensor"):
            to_rgb_array(nothing)


def test_float_and_32_bit_image_files_are_scaled_not_cast(tmp_path):
    """A float TIFF in [0, 1] (measurements, a normalised export) was read as a black picture and larger
    floats or 32-bit integers wrapped around 256 (a cast to uint8): [0, 1] floats are times 255 as the same
    PIL image is, other data scaled by its maximum as 16-bit files are; NaN is named."""
    from PIL import Image

    from idrnet.apis.predictor import to_rgb_array
    from idrnet.data.labels import BadSampleError

    grey = np.random.default_rng(1).integers(0, 256, (20, 30), dtype=np.uint8)
    unit = tmp_path / "unit.tif"
    Image.fromarray(grey.astype(np.float32) / 255, mode="F").save(unit)
    assert np.array_equal(to_rgb_array(unit)[..., 0], grey)
    deep = tmp_path / "deep.png"
    Image.fromarray(grey.astype(np.uint16) * 200).save(deep)
    for scaled in (grey.astype(np.float32) * 200, grey.astype(np.int32) * 200):
        path = tmp_path / f"{scaled.dtype}.tif"
        Image.fromarray(scaled).save(path)
        assert np.abs(to_rgb_array(path).astype(int) - to_rgb_array(deep)).max() <= 1, scaled.dtype
    broken = tmp_path / "nan.tif"
    Image.fromarray(np.full((4, 4), np.nan, np.float32), mode="F").save(broken)
    with pytest.raises(BadSampleError, match="nan.tif: the image holds NaN or infinite pixel values"):
        to_rgb_array(broken)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_predictor_on_a_device_this_machine_lacks_says_so(trained):
    _, ckpt, _ = trained
    with pytest.raises(ValueError, match="device cuda: CUDA is not available on this machine"):
        Predictor(ckpt, device="cuda")  # was PyTorch's "Found no NVIDIA driver on your system"
    with pytest.raises(ValueError, match="device gpu: expected cpu, cuda, cuda:N or auto"):
        Predictor(ckpt, device="gpu")
    with pytest.raises(ValueError, match="device meta: expected cpu, cuda, cuda:N or auto"):
        Predictor(ckpt, device="meta")  # a device torch names but nothing runs on
    if not torch.backends.mps.is_available():  # was "PyTorch is not linked with support for mps devices"
        with pytest.raises(ValueError, match="device mps: MPS .Apple GPUs. is not available on this machine"):
            Predictor(ckpt, device="mps")
    assert Predictor(ckpt, device="auto").device.type == "cpu"


def test_predictor_names_predict_batch_for_several_images(predictor):
    images = [np.zeros((8, 8, 3), np.uint8), np.zeros((9, 7, 3), np.uint8)]
    with pytest.raises(ValueError, match="a list of 2 images: predict takes one image; use predict_batch"):
        predictor.predict(images)  # was numpy's 'inhomogeneous shape', reported as a bug in idrnet
    with pytest.raises(ValueError, match="a batch of images: use predict_batch"):
        predictor.predict(torch.rand(2, 3, 8, 8))
    assert [p.shape for p in predictor.predict_batch(images)] == [(8, 8), (9, 7)]
    # the reverse slip: one path (or a folder) given to predict_batch was iterated letter by letter
    # ("i: image file does not exist")
    with pytest.raises(ValueError, match="predict_batch takes a list of images; got one image"):
        predictor.predict_batch("photo.png")
    with pytest.raises(ValueError, match="predict_batch takes a list of images; got a folder.*idrnet predict FOLDER"):
        predictor.predict_batch(".")
    with pytest.raises(ValueError, match="alpha=3: expected an opacity between 0 and 1"):
        predictor.overlay(images[0], alpha=3)  # was accepted: colours past the palette's


def test_predictor_settings_as_people_write_them(trained):
    """InferenceConfig(mode="slid") ran as whole without a word; TTAConfig(scales=1.5) failed at the first
    prediction ("'float' object is not iterable"); tta={"flip": True} was an AttributeError."""
    from idrnet.config import ConfigError
    from idrnet.evaluation.inference import TTAConfig
    from idrnet.models.config import InferenceConfig

    _, ckpt, _ = trained
    with pytest.raises(ValueError, match="inference mode 'slid': expected 'whole' or 'slide'"):
        InferenceConfig(mode="slid")
    assert TTAConfig(scales=1.5).scales == (1.5,)
    predictor = Predictor(ckpt, tta={"flip": True}, inference={"mode": "slide", "crop_size": [32, 32], "stride": [16, 16]})
    assert predictor.tta == TTAConfig(flip=True) and predictor.inference.crop_size == (32, 32)
    assert predictor.predict(np.zeros((40, 50, 3), np.uint8)).shape == (40, 50)
    with pytest.raises(ConfigError, match="tta: flp: unknown key; did you mean 'flip'"):
        Predictor(ckpt, tta={"flp": True})
    # another library's network as it is (it has no classes or inference settings): was an AttributeError
    with pytest.raises(ValueError, match=r"the Conv2d given is not one of idrnet's models: attach IDRNet to it"):
        Predictor(torch.nn.Conv2d(3, 5, 1))


def test_predictor_refuses_a_test_scale_that_is_not_two_positive_sizes(trained):
    """(0, 512) or a negative side was taken without a word; the resize coped and hid the mistake."""
    _, ckpt, _ = trained
    for bad in ((0, 512), (512, -1), (512,), 512, "512x128", (512.5, 128), (True, 128)):
        with pytest.raises(ValueError, match=r"test_scale: expected \(long side, short side\) as two positive"):
            Predictor(ckpt, test_scale=bad)
    assert Predictor(ckpt, test_scale=[256, np.int64(64)]).test_scale == (256, 64)
    assert Predictor(ckpt, test_scale=None).test_scale is None


def test_predictor_names_a_url_and_a_folder(predictor, tmp_path):
    """A URL read as a path ("https:/example.com/a.jpg: image file does not exist") and a folder called a
    missing image file."""
    with pytest.raises(ValueError, match="https://example.com/a.jpg: a URL; images are not downloaded here"):
        predictor.predict("https://example.com/a.jpg")
    with pytest.raises(ValueError, match="is a folder; pass one image.*idrnet predict FOLDER"):
        predictor.predict(tmp_path)


def test_data_names_may_come_from_a_training_config_or_dataset_yaml(trained, tmp_path):
    """--data train.yaml read 'train.yaml/dataset.yaml does not exist'; the config's dataset and the
    dataset.yaml file itself are read now."""
    config, ckpt, data = trained
    for given in (config, data / "dataset.yaml", data):
        assert Predictor(ckpt, data=str(given)).class_names[3] == "cup on table"
    with pytest.raises(ValueError, match="is a file; expected a dataset folder"):
        Predictor(ckpt, data=str(ckpt))


def test_predictor_rejects_an_empty_image(predictor):
    with pytest.raises(ValueError, match="empty"):
        predictor.predict(np.zeros((0, 5, 3), np.uint8))


def test_predict_cli_errors_name_the_problem(trained, tmp_path, capsys):
    _, ckpt, data = trained
    assert main(["predict", str(tmp_path / "missing.png"), "--model", str(ckpt)]) == 2
    assert "missing.png" in capsys.readouterr().err
    assert main(["predict", "https://example.com/a.jpg", "--model", str(ckpt), "--out", str(tmp_path / "u")]) == 2
    assert "https://example.com/a.jpg: a URL; predict reads files and folders" in capsys.readouterr().err
    assert main(["predict", str(ckpt), "--model", str(ckpt)]) == 2
    assert "not an image or video" in capsys.readouterr().err
    assert main(["predict", str(data / "images" / "val"), "--model", "idrnet_fcn_resnet50os8_ade20k"]) == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_predict_names_iphone_heic_and_gif_pictures_it_does_not_read(trained, tmp_path, capsys):
    """A folder of iPhone photos (HEIC) was 'no images or videos in this folder'; a .jfif (Windows' name for
    a downloaded JPEG) was not an image at all."""
    _, ckpt, data = trained
    phone = tmp_path / "phone"
    phone.mkdir()
    for name in ("IMG_0001.HEIC", "IMG_0002.HEIC", "loop.gif"):
        (phone / name).write_bytes(b"\x00" * 16)
    assert main(["predict", str(phone), "--model", str(ckpt), "--out", str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err
    assert "no images or videos in this folder (it holds 2 .heic, 1 .gif)" in err and "convert them to PNG or JPEG" in err
    first = sorted((data / "images" / "val").iterdir())[0]
    Image.open(first).convert("RGB").save(phone / "download.jfif", format="JPEG")
    assert main(["predict", str(phone), "--model", str(ckpt), "--out", str(tmp_path / "o2"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "3 picture(s) of a format that is not read are left out (2 .heic, 1 .gif" in out
    assert (tmp_path / "o2" / "download.png").is_file()


def test_predict_probs_that_would_not_fit_on_the_disk_are_refused_before_any_work(trained, tmp_path, capsys, monkeypatch):
    """--probs writes K×H×W float16 per image (150 classes × a 12 Mpx photo: 3.6 GB): a run that would fill
    the disk is refused up front instead of failing part-way."""
    import shutil
    from collections import namedtuple

    from idrnet.cli.predict import probabilities_bytes

    _, ckpt, data = trained
    images = sorted((data / "images" / "val").iterdir())
    sizes = [Image.open(p).size for p in images]
    assert probabilities_bytes(images, 11) == sum(11 * w * h * 2 + 128 for w, h in sizes)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9 - 1000, 1000))
    out = tmp_path / "p"
    assert main(["predict", str(images[0]), "--model", str(ckpt), "--out", str(out), "--probs"]) == 2
    message = capsys.readouterr().err
    assert "--probs would write about" in message and "has 1000 bytes free" in message and not out.exists()


def test_predict_probs_are_written_a_few_classes_at_a_time(trained, tmp_path, monkeypatch):
    """The .npy of --probs is written group by group (a photo's 150 classes are never held at once): the
    same probabilities as predict_proba, and the labels their argmax."""
    import functools

    import idrnet.apis.predictor as predictor_module
    from idrnet.evaluation.inference import probability_groups

    _, ckpt, data = trained
    image = sorted((data / "images" / "val").iterdir())[0]
    expected = Predictor(ckpt, backend="eager").predict_proba(image)
    height, width = expected.shape[1:]
    small = functools.partial(probability_groups, max_bytes=4 * height * width * 4)  # 4 of the 11 classes at once
    monkeypatch.setattr(predictor_module, "probability_groups", small)
    assert main(["predict", str(image), "--model", str(ckpt), "--out", str(tmp_path / "p"), "--probs"]) == 0
    written = np.load(tmp_path / "p" / f"{image.stem}_probs.npy")
    assert written.dtype == np.float16 and written.shape == expected.shape
    np.testing.assert_allclose(written.astype(np.float32), expected, atol=1e-3)
    labels = np.asarray(Image.open(tmp_path / "p" / f"{image.stem}.png"))
    assert (labels == expected.argmax(0)).mean() > 0.999  # near-ties aside (float32 noise)


def test_evaluating_on_a_dataset_whose_class_names_differ_warns(trained, tmp_path, capsys):
    """Same number of classes, other names: the scores pair classes by index, silently meaningless before."""
    import shutil

    import yaml

    config, ckpt, data = trained
    other = tmp_path / "other"
    shutil.copytree(data, other)
    spec = yaml.safe_load((other / "dataset.yaml").read_text())
    spec["classes"][3] = "dog"
    (other / "dataset.yaml").write_text(yaml.safe_dump(spec))
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["root"] = str(other)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["test", str(tmp_path / "c.yaml"), "--checkpoint", str(ckpt), "--out", str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err
    assert "class names differ from the dataset's at 1 of 11 classes (class 3: 'cup on table' vs 'dog')" in err
    assert main(["test", str(config), "--checkpoint", str(ckpt), "--out", str(tmp_path / "r2.json")]) == 0
    assert "class names differ" not in capsys.readouterr().err


def test_paired_bootstrap_on_known_cases():
    rng = np.random.default_rng(0)
    inter = rng.integers(0, 50, size=(40, 3))
    union = inter + rng.integers(1, 50, size=(40, 3))
    same = paired_bootstrap(inter, union, inter, union)
    assert same == (0.0, 0.0, 0.0)
    # B finds 10 more pixels of every class in every image with the same union: a sure gain.
    delta, low, high = paired_bootstrap(inter, union + 10, inter + 10, union + 10)
    assert 0 < low <= delta <= high
    # Noisy differences: the interval contains the observed difference and narrows with more images.
    widths = []
    for n in (20, 320):
        ia = rng.integers(10, 40, size=(n, 2))
        ib = np.clip(ia + rng.integers(-8, 9, size=(n, 2)), 0, 50)
        u = np.full((n, 2), 50)
        d, lo, hi = paired_bootstrap(ia, u, ib, u, resamples=500)
        assert lo <= d <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_compare_cli_reports_delta_interval_and_gallery(trained, tmp_path, capsys):
    config, ckpt, _ = trained
    from tiny import tiny_config

    baseline = build_model(tiny_config("fcn", num_classes=11)).eval()
    base_path = save_checkpoint(baseline, tmp_path / "baseline.safetensors")
    out = tmp_path / "cmp"
    assert main(["compare", str(base_path), str(ckpt), "--data", str(config), "--out", str(out), "--gallery", "2",
                 "--resamples", "200", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "B − A" in text and "95 %" in text
    record = json.loads((out / "compare.json").read_text())
    low, high = record["ci95"]
    assert low <= record["delta_mIoU"] <= high and record["num_images"] == 3
    assert len(record["gallery"]) == 2
    picture = cv2.imread(record["gallery"][0])
    assert picture.shape[1] >= 4 * 48  # image | ground truth | A | B
    # --gallery 0 failed at the end: nothing had made the --out folder for compare.json
    assert main(["compare", str(base_path), str(ckpt), "--data", str(config), "--out", str(tmp_path / "bare"),
                 "--gallery", "0", "--resamples", "20", "--device", "cpu"]) == 0
    assert "no gallery (--gallery 0)" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == ["compare.json"]


def test_test_and_compare_never_write_over_their_inputs_even_with_overwrite(trained, tmp_path, capsys):
    """test --out LABEL.png --overwrite used to replace a dataset label with the results JSON."""
    config, ckpt, data = trained
    label = sorted((data / "masks" / "val").iterdir())[0]
    before = {p: p.read_bytes() for p in (label, ckpt, config)}
    for out, message in ((label, "would replace a file of the dataset folder"), (ckpt, "is an input of this command"),
                         (config, "is an input of this command"),
                         (label.parent / "new.json", "lies in the dataset's image or label folder")):
        assert main(["test", str(config), "--checkpoint", str(ckpt), "--out", str(out), "--overwrite"]) == 2
        assert message in capsys.readouterr().err
    val_images = data / "images" / "val"
    assert main(["compare", str(ckpt), str(ckpt), "--data", str(config), "--out", str(val_images), "--overwrite"]) == 2
    assert "lies in the dataset's image or label folder" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before and not (val_images / "compare.json").exists()
    # a results file beside the dataset's folders is fine (a dataset whose root is the working folder)
    assert main(["test", str(config), "--checkpoint", str(ckpt), "--out", str(data / "results.json")]) == 0
    (data / "results.json").unlink()  # the data folder is shared by this module's tests


def test_relation_heatmap_has_the_class_names_and_helpers_rank_by_loss_rise():
    from idrnet.visualization.relations import relation_heatmap_figure, top_helpers

    names = ["sky", "road", "car"]
    rel = torch.eye(3)
    rel[1, 2] = 0.5  # deleting road raises the loss on car
    rel[0, 2] = 0.1
    fig = relation_heatmap_figure(rel, names)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert top_helpers(rel, names, 2)["car"] == [("road", 0.5), ("sky", pytest.approx(0.1))]
    assert top_helpers(rel, names)["sky"] == []


def test_relations_cli_renders_heatmap_and_explains_an_image(trained, tmp_path, capsys):
    _, ckpt, data = trained
    image = sorted((data / "images" / "val").iterdir())[0]
    out = tmp_path / "rel"
    assert main(["relations", str(ckpt), "--out", str(out), "--image", str(image)]) == 0
    assert (out / f"{ckpt.stem}_relations.png").stat().st_size > 1000
    assert (out / f"{image.stem}_groups.png").stat().st_size > 1000
    record = json.loads((out / f"{ckpt.stem}_relations.json").read_text())
    assert record["classes"][3] == "cup on table" and len(record["relations_mean"]) == 11
    printed = capsys.readouterr().out
    assert "cup on table" in printed and "never deleted" not in printed


def test_relations_cli_on_a_baseline_is_a_clear_error(tmp_path, capsys):
    from tiny import tiny_config

    path = save_checkpoint(build_model(tiny_config("fcn")), tmp_path / "fcn.safetensors")
    assert main(["relations", str(path), "--out", str(tmp_path)]) == 2
    assert "no IDRNet head" in capsys.readouterr().err


def test_relations_of_an_untrained_model_say_so_and_a_bad_image_writes_nothing(tmp_path, capsys):
    """A truncated --image was found after the heatmap and JSON were written: the rerun with a good image
    then stopped at "already exists". An untrained model printed a table of dashes with no reason."""
    from tiny import tiny_config

    path = save_checkpoint(build_model(tiny_config("idrnet")), tmp_path / "new.safetensors")
    good = tmp_path / "photo.png"
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:60])
    out = tmp_path / "rel"
    assert main(["relations", str(path), "--out", str(out), "--image", str(tmp_path / "cut.png")]) == 2
    assert "cut.png" in capsys.readouterr().err and not out.exists()
    assert main(["relations", str(path), "--out", str(out), "--image", str(good)]) == 0
    assert "was ever deleted in training" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["new_relations.json", "new_relations.png", "photo_groups.png"]


def test_compare_and_relations_write_under_runs_by_default_never_into_the_current_folder():
    from idrnet.cli.compare import default_compare_dir
    from idrnet.cli.main import build_parser

    assert default_compare_dir("runs/fcn/final.safetensors", "runs/idr/final.safetensors") == \
        Path("runs/compare/fcn-final_vs_idr-final")
    assert default_compare_dir("a.safetensors", "b.safetensors") == Path("runs/compare/a_vs_b")
    assert build_parser().parse_args(["relations", "x.safetensors"]).out == "runs/relations"
