"""Hardening II, files and disks: read-only folders and full disks found before the work (or reported in
one line, with nothing half-written and a rerun that continues), odd folder names, existing datasets,
interrupted validations and finished runs. The failures are real: tmpfs mounts, read-only or tiny."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from idrnet.cli.main import main as cli
from idrnet.data.synth import write_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A tmpfs mounted at ``path`` (root only; skipped elsewhere), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def run_cli(argv: list[str]) -> int:
    """The exit code of ``idrnet ARGV`` (argparse's own errors exit 2 through SystemExit)."""
    try:
        return cli(argv)
    except SystemExit as stop:
        return int(stop.code)


def one_line_error(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    code = run_cli(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("idrnet")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def files_under(folder: Path) -> list[Path]:
    # but a work dir's .lock, rewritten by each run that claims the folder to name its process
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    for i in range(12):  # noise: large overlays, so that a small disk fills after a few
        Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(folder / f"img_{i:02d}.png")
    return folder


# ---------------------------------------------------------------------------------- read-only
def test_read_only_outputs_are_refused_before_the_work(trained, tmp_path, capsys, monkeypatch):
    config, final, data = trained
    state = final.parent / "latest.pt"

    def never(*_a, **_k):
        raise AssertionError("the work started although its output cannot be written")

    monkeypatch.setattr("idrnet.evaluation.evaluator.evaluate", never)
    monkeypatch.setattr("idrnet.deploy.export.export_onnx", never)
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        image = str(next((data / "images" / "val").iterdir()))
        for argv in (["predict", image, "--model", str(final), "--out", str(ro / "p")],
                     ["test", str(config), "--checkpoint", str(final), "--out", str(ro / "r.json")],
                     ["test", str(config), "--checkpoint", str(final), "--out", str(tmp_path / "r.json"),
                      "--save-predictions", str(ro / "labels")],
                     ["export", str(final), str(ro / "m.onnx")],
                     ["convert", str(state), str(ro / "m.safetensors")],
                     ["relations", str(final), "--out", str(ro / "rel")],
                     ["compare", str(final), str(final), "--data", str(config), "--out", str(ro / "cmp")],
                     ["data", "synth", str(ro / "d")],
                     ["serve", str(final), "--ab-log", str(ro / "ab.jsonl"), "--port", "1"]):
            message = one_line_error(capsys, argv)
            assert "Read-only file system" in message or "cannot write" in message, (argv, message)
        assert files_under(ro) == []


# ---------------------------------------------------------------------------------- full disk
def test_predict_on_a_full_disk_loses_nothing_and_continues(trained, images, tmp_path, capsys):
    _, final, _ = trained
    with tmpfs(tmp_path / "small", "size=160k") as small:
        out = small / "pred"
        message = one_line_error(capsys, ["predict", str(images), "--model", str(final), "--out", str(out)])
        assert "No space left on device" in message and "--skip-existing" in message
        written = files_under(out)
        assert written and all(p.stat().st_size > 0 for p in written)
        assert not [p for p in written if p.name.endswith(".tmp")]
        for label in (p for p in written if not p.name.endswith("_overlay.jpg")):
            Image.open(label).load()  # whole files only
        message = one_line_error(capsys, ["predict", str(images), "--model", str(final), "--out", str(out)])
        assert "--skip-existing" in message  # the rerun says what to pass
        remount(small, "size=20m")
        assert cli(["predict", str(images), "--model", str(final), "--out", str(out), "--skip-existing"]) == 0
        assert "skipping" in capsys.readouterr().out
        assert len(list(out.glob("*_overlay.jpg"))) == len(list(out.glob("img_??.png"))) == 12


def test_test_results_on_a_full_disk_leave_no_empty_file(trained, tmp_path, capsys):
    config, final, _ = trained
    with tmpfs(tmp_path / "full", "size=64k") as full:
        with open(full / "filler", "wb") as f:
            with contextlib.suppress(OSError):
                f.write(b"\0" * (1 << 20))
        message = one_line_error(capsys, ["test", str(config), "--checkpoint", str(final), "--out", str(full / "r.json")])
        assert "No space left on device" in message and "r.json" in message
        assert not (full / "r.json").exists() and [p.name for p in full.iterdir()] == ["filler"]


def test_train_on_a_full_disk_is_one_line_and_resumes_to_the_same_weights(trained, tmp_path, capsys):
    from safetensors.torch import load_file

    config = trained[0]
    every_two = ["--set", "val_interval=2", "--set", "checkpoint_interval=2"]  # iteration 2's files fit, 4's do not
    assert cli(["train", str(config), *every_two, "--set", f"work_dir={tmp_path / 'whole'}"]) == 0
    with tmpfs(tmp_path / "small", "size=1700k") as small:
        work = small / "run"
        message = one_line_error(capsys, ["train", str(config), *every_two, "--set", f"work_dir={work}"])
        assert "No space left on device" in message and "latest.pt" in message and "--resume" in message
        kept = [p for p in files_under(work) if p.parent.name != "tensorboard"]  # events are best-effort
        assert all(p.stat().st_size > 0 for p in kept) and not list(work.glob("*.tmp"))
        remount(small, "size=20m")
        assert cli(["train", str(config), *every_two, "--set", f"work_dir={work}", "--resume"]) == 0
        resumed, whole = load_file(str(work / "final.safetensors")), load_file(str(tmp_path / "whole/final.safetensors"))
        assert resumed.keys() == whole.keys() and all((resumed[k] == whole[k]).all() for k in whole)


def test_export_checks_free_space_first(trained, tmp_path, capsys, monkeypatch):
    _, final, _ = trained
    monkeypatch.setattr("idrnet.deploy.export.export_onnx", lambda *a, **k: pytest.fail("exported onto a full disk"))
    with tmpfs(tmp_path / "tiny", "size=64k") as tiny:
        message = one_line_error(capsys, ["export", str(final), str(tiny / "m.onnx")])
        # A 64 KiB disk read "0 MiB free" when sizes were always given in MiB.
        assert re.search(r"has [1-9][0-9.]* KiB free", message) and "the disk is full" in message


# ---------------------------------------------------------------------------------- odd names
def test_predict_in_folders_whose_names_are_not_utf8(trained, tmp_path):
    _, final, data = trained
    base = os.fsencode(tmp_path)
    source, out = base + b"/in\xff", base + b"/out\xfe"
    os.mkdir(source)
    image = next((data / "images" / "val").iterdir()).read_bytes()
    with open(source + b"/a.png", "wb") as f:
        f.write(image)
    done = subprocess.run([sys.executable, "-m", "idrnet.cli.main", "predict", os.fsdecode(source), "--model", str(final),
                           "--out", os.fsdecode(out)], capture_output=True, text=True, errors="replace")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == [b"a.png", b"a_overlay.jpg"]
    with open(out + b"/a_overlay.jpg", "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"


# ---------------------------------------------------------------------------------- datasets, runs
def test_data_synth_refuses_an_existing_dataset(tmp_path, capsys):
    target = tmp_path / "d"
    assert cli(["data", "synth", str(target), "--num-train", "3", "--num-val", "1", "--size", "32"]) == 0
    before = {p: p.read_bytes() for p in files_under(target)}
    message = one_line_error(capsys, ["data", "synth", str(target), "--num-train", "2", "--num-val", "1", "--size", "48"])
    assert "--overwrite" in message
    assert {p: p.read_bytes() for p in files_under(target)} == before
    (target / "notes.txt").write_text("mine")
    assert cli(["data", "synth", str(target), "--num-train", "2", "--num-val", "1", "--size", "48", "--seed", "3",
                "--overwrite"]) == 0
    pictures = list((target / "images").rglob("*.png")) + list((target / "masks").rglob("*.png"))
    assert len(pictures) == 6 and {Image.open(p).size for p in pictures} == {(48, 48)}  # no mix of two datasets
    assert (target / "notes.txt").read_text() == "mine"
    # another dataset (its own dataset.yaml, files named like generated ones) is never touched
    own = tmp_path / "own"
    (own / "images" / "train").mkdir(parents=True)
    (own / "dataset.yaml").write_text("classes: [road, car]\n")
    (own / "images" / "train" / "train_00000.png").write_bytes(b"my picture")
    before = {p: p.read_bytes() for p in files_under(own)}
    message = one_line_error(capsys, ["data", "synth", str(own), "--overwrite", "--num-train", "2", "--size", "32"])
    assert "holds another dataset" in message
    assert {p: p.read_bytes() for p in files_under(own)} == before
    for argv in (["--num-train", "-1"], ["--size", "0"], ["--num-val", "-2"]):
        assert argv[0] in one_line_error(capsys, ["data", "synth", str(tmp_path / "e"), *argv])


def _tiny_run_config(tmp_path: Path, data: Path) -> Path:
    cfg = {"model": {"num_classes": 11, "backbone": {"name": "resnet18v1c", "base_width": 4},
                     "head": {"type": "fcn", "feats_channels": 16}, "auxiliary": {"channels": 16}},
           "data": {"root": str(data), "scale": [64, 32], "crop": [32, 32], "num_workers": 0},
           "iterations": 4, "batch_size": 2, "val_interval": 2, "checkpoint_interval": 2, "log_interval": 1,
           "device": "cpu", "work_dir": str(tmp_path / "run")}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _validations(log: Path) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return [(r["iteration"], r["val_mIoU"]) for r in records if "val_mIoU" in r]


def test_a_validation_killed_midway_is_run_again_on_resume(tmp_path, capsys, monkeypatch):
    from idrnet.engine.trainer import Trainer

    data = write_synthetic_dataset(tmp_path / "data", 4, 2, 32, seed=0, progress=False)
    config = _tiny_run_config(tmp_path, data)
    assert cli(["train", str(config), "--set", f"work_dir={tmp_path / 'whole'}"]) == 0
    expected = _validations(tmp_path / "whole/log.jsonl")
    assert [i for i, _ in expected] == [2, 4]

    original = Trainer.validate

    def killed(self, iteration):
        raise KeyboardInterrupt("killed during validation")

    monkeypatch.setattr(Trainer, "validate", killed)
    assert cli(["train", str(config)]) == 130  # latest.pt of iteration 2 was written just before
    monkeypatch.setattr(Trainer, "validate", original)
    assert _validations(tmp_path / "run/log.jsonl") == []
    assert cli(["train", str(config), "--resume"]) == 0
    assert _validations(tmp_path / "run/log.jsonl") == expected

    # resuming the finished run would only rewrite its files: refused, nothing touched
    stamps = {p: p.stat().st_mtime_ns for p in files_under(tmp_path / "run")}
    message = one_line_error(capsys, ["train", str(config), "--resume"])
    assert "is finished (iteration 4 of 4)" in message and "--overwrite" in message
    assert {p: p.stat().st_mtime_ns for p in files_under(tmp_path / "run")} == stamps


# ---------------------------------------------------------------------------------- values
def test_values_that_would_give_wrong_results_are_refused(trained, tmp_path, capsys):
    config, final, data = trained
    image = str(next((data / "images" / "val").iterdir()))
    cases = {
        "optim.power": ["train", str(config), "--set", "optim.power=-1"],
        "data.ratio_range": ["train", str(config), "--set", "data.ratio_range=[1.5, 0.75]"],
        "data.crop": ["train", str(config), "--set", "data.crop=[0, 0]"],
        "data.crop ": ["train", str(config), "--set", "data.crop=[-64, 64]"],
        "seed": ["train", str(config), "--set", "seed=-1"],
        "--alpha": ["predict", image, "--model", str(final), "--alpha", "nan", "--out", str(tmp_path / "p")],
        "--alpha ": ["predict", image, "--model", str(final), "--alpha", "5", "--out", str(tmp_path / "p")],
        "--max-pixels": ["predict", image, "--model", str(final), "--max-pixels", "0", "--out", str(tmp_path / "p")],
        "--scales": ["test", str(config), "--checkpoint", str(final), "--scales", "nan"],
        "--limit": ["test", str(config), "--checkpoint", str(final), "--limit", "0"],
        "--limit ": ["test", str(config), "--checkpoint", str(final), "--limit", "-1"],
        "--runs": ["bench", str(final), "--runs", "0"],
        "--size": ["bench", str(final), "--size", "0x0"],
        "--example-size": ["export", str(final), str(tmp_path / "m.onnx"), "--example-size", "0x0"],
        "--resamples": ["compare", str(final), str(final), "--data", str(config), "--resamples", "0"],
    }
    for key, argv in cases.items():
        code = run_cli(argv)
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err and key.strip() in err, (key, err)
    assert not (tmp_path / "p").exists()


def test_predictor_refuses_nan_images(trained):
    import torch

    from idrnet import Predictor

    predictor = Predictor(trained[1])
    with pytest.raises(ValueError, match="NaN"):
        predictor.predict(np.full((16, 16, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        predictor.predict(torch.full((3, 16, 16), float("nan")))


def test_messages_name_what_the_file_is(trained, tmp_path, capsys):
    config, final, _ = trained
    folder_config = tmp_path / "cfg.yaml"
    folder_config.mkdir()
    assert "is a folder" in one_line_error(capsys, ["train", str(folder_config)])
    assert "not a regular file" in one_line_error(capsys, ["train", "/dev/null"])
    fake = tmp_path / "notes.png"
    fake.write_text("just text")
    message = one_line_error(capsys, ["predict", str(fake), "--model", str(final), "--out", str(tmp_path / "p")])
    assert "notes.png" in message and "BytesIO" not in message and "not an image" in message


class Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_unsafe_pickles_are_refused_without_torchs_advice(trained, tmp_path, capsys):
    import torch

    config, _, _ = trained
    bad = tmp_path / "backbone.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": Payload()}, bad)
    message = one_line_error(capsys, ["train", str(config), "--set", f"pretrained_backbone={bad}",
                                      "--set", f"work_dir={tmp_path / 'run'}"])
    assert "refused" in message and "weights_only=False" not in message and "payload ran" not in capsys.readouterr().out
    message = one_line_error(capsys, ["test", str(config), "--checkpoint", str(bad), "--out", str(tmp_path / "r.json")])
    assert "refused" in message and "weights_only" not in message


def test_a_whole_model_given_as_the_pretrained_backbone_names_init_checkpoint(trained, tmp_path, capsys):
    """pretrained_backbone: runs/x/final.safetensors was "is not a PyTorch checkpoint: neither a zip archive
    nor a pickle", and a training state a list of missing and unexpected keys: both are a whole model, which
    init_checkpoint takes."""
    config, final, _ = trained
    state = final.parent / "latest.pt"
    for given, said in ((final, "holds a whole model's weights"), (state, "is a training state of idrnet train")):
        message = one_line_error(capsys, ["train", str(config), "--set", f"pretrained_backbone={given}",
                                          "--set", f"work_dir={tmp_path / 'run'}"])
        assert said in message and f"set init_checkpoint: {given} instead of pretrained_backbone" in message


def test_results_json_is_strict(trained, tmp_path):
    config, final, _ = trained
    out = tmp_path / "r.json"
    assert cli(["test", str(config), "--checkpoint", str(final), "--out", str(out)]) == 0
    text = out.read_text()

    def no_constants(name):
        raise AssertionError(f"{name} in the results JSON")

    record = json.loads(text, parse_constant=no_constants)
    assert None in record["IoU"]  # classes absent from the tiny split: null, not NaN


def test_an_interrupted_video_leaves_no_overlay_and_is_redone(trained, tmp_path, monkeypatch):
    import cv2

    from idrnet.apis.predictor import Predictor

    _, final, _ = trained
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (64, 48))
    for _ in range(5):
        writer.write(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    original, calls = Predictor.predict, []

    def killed_at_the_third_frame(self, image):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return original(self, image)

    monkeypatch.setattr(Predictor, "predict", killed_at_the_third_frame)
    out = tmp_path / "out"
    assert cli(["predict", str(video), "--model", str(final), "--out", str(out), "--labels"]) == 130
    assert not list(out.glob("*.mp4*"))  # neither a cut overlay video nor its temporary file
    monkeypatch.setattr(Predictor, "predict", original)
    assert cli(["predict", str(video), "--model", str(final), "--out", str(out), "--labels", "--skip-existing"]) == 0
    capture = cv2.VideoCapture(str(out / "clip_overlay.mp4"))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 5 and len(list((out / "clip_labels").glob("*.png"))) == 5
    capture.release()
