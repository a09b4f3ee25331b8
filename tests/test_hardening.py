"""Everyday mistakes: nothing is lost, every user error is one line naming what is wrong (issue 13)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from idrnet.cli.main import main as cli
from idrnet.config import ConfigError
from idrnet.data.synth import write_synthetic_dataset
from idrnet.engine.config import load_train_config, parse_override
from idrnet.engine.errors import TrainingError
from idrnet.engine.trainer import Trainer, train

ROOT = Path(__file__).resolve().parents[1]


def make_dataset(root: Path, train: int = 4, val: int = 2, size: int = 32, **spec) -> Path:
    write_synthetic_dataset(root, train, val, size, seed=0, progress=False)
    if spec:
        data = yaml.safe_load((root / "dataset.yaml").read_text())
        data.update(spec)
        (root / "dataset.yaml").write_text(yaml.safe_dump(data))
    return root


def write_config(tmp_path: Path, data_root: Path, name: str = "train.yaml", **extra) -> Path:
    cfg = {
        "model": {"num_classes": 11, "backbone": {"name": "resnet18v1c", "base_width": 4},
                  "head": {"type": "idrnet", "feats_channels": 16, "transform_channels": 8},
                  "auxiliary": {"channels": 16}},
        "data": {"root": str(data_root), "scale": [64, 32], "crop": [32, 32], "num_workers": 0},
        "iterations": 2, "batch_size": 2, "val_interval": 100, "checkpoint_interval": 100, "log_interval": 1,
        "work_dir": str(tmp_path / "run"), "device": "cpu",
    }
    cfg.update(extra)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def save_mask(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array.astype(np.uint8), mode="L").save(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("hard"))


def error_of(capsys, argv) -> str:
    code = cli(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 12, err
    return err


# ------------------------------------------------------------------------------- work dirs, --set
def test_set_values_for_text_fields_are_taken_literally():
    assert parse_override("work_dir=runs/exp #2") == ("work_dir", "runs/exp #2")
    assert parse_override("data.root=/d/a: b") == ("data.root", "/d/a: b")
    assert parse_override("optim.lr=0.02") == ("optim.lr", 0.02)
    assert parse_override("data.crop=[64, 64]") == ("data.crop", [64, 64])
    assert parse_override("model.head={type: fcn}") == ("model.head", {"type": "fcn"})
    assert parse_override("init_checkpoint=null") == ("init_checkpoint", None)
    assert parse_override("init_checkpoint=runs/a #1/best.safetensors") == ("init_checkpoint", "runs/a #1/best.safetensors")


def test_work_dir_with_a_hash_is_used_as_written(tmp_path, data):
    config = write_config(tmp_path, data)
    target = tmp_path / "runs" / "exp #2"
    assert cli(["train", str(config), "--work-dir", str(target)]) == 0
    assert (target / "final.safetensors").is_file() and not (tmp_path / "runs" / "exp").exists()


def test_a_finished_run_is_not_overwritten_without_asking(tmp_path, data, capsys):
    config = write_config(tmp_path, data)
    assert cli(["train", str(config)]) == 0
    run = tmp_path / "run"
    final, saved = (run / "final.safetensors").read_bytes(), (run / "config.yaml").read_text()
    err = error_of(capsys, ["train", str(config), "--set", "seed=5"])
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert (run / "final.safetensors").read_bytes() == final and (run / "config.yaml").read_text() == saved
    # a run that fails in set-up does not rewrite the saved config either
    error_of(capsys, ["train", str(config), "--overwrite", "--set", "data.root=" + str(tmp_path / "nowhere")])
    assert (run / "config.yaml").read_text() == saved and (run / "final.safetensors").read_bytes() == final
    assert cli(["train", str(config), "--overwrite", "--set", "seed=5"]) == 0
    assert "seed: 5" in (run / "config.yaml").read_text()
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records if "loss_total" in r] == [1, 2]  # the old log was removed


def test_resume_cleans_up_and_refuses_a_changed_config(tmp_path, data, capsys):
    path = write_config(tmp_path, data, iterations=4, checkpoint_interval=2, val_interval=2)
    config = load_train_config(path)
    train(config, max_iterations=3)  # as if killed at iteration 3; latest.pt is from iteration 3
    run = tmp_path / "run"
    (run / "latest.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # a kill during an atomic write
    (run / "skipped_samples.txt").write_text("old run's entry\n")
    with open(run / "log.jsonl", "a") as log:  # records past the checkpoint, as a kill would leave them
        log.write(json.dumps({"iteration": 4, "loss_total": 9.0}) + "\n")
    err = error_of(capsys, ["train", str(path), "--resume", "--set", "optim.lr=0.5"])
    assert "optim.lr: 0.01 → 0.5" in err and "--allow-config-change" in err
    assert cli(["train", str(path), "--resume", "--set", "log_interval=2"]) == 0  # reporting may change
    assert not list(run.glob("*.tmp")) and not (run / "skipped_samples.txt").exists()
    iterations = [json.loads(line)["iteration"] for line in (run / "log.jsonl").read_text().splitlines()
                  if "loss_total" in json.loads(line)]
    assert iterations == sorted(set(iterations)) and 4 in iterations  # no duplicate of a replayed iteration


def test_resume_of_a_corrupt_or_foreign_state_names_the_file(tmp_path, data, capsys):
    path = write_config(tmp_path, data)
    assert cli(["train", str(path)]) == 0
    latest = tmp_path / "run" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    err = error_of(capsys, ["train", str(path), "--resume"])
    assert "latest.pt" in err and "iter_N.pt" in err
    # architecture mismatch on resume: the tensors that do not fit are listed
    assert cli(["train", str(path), "--overwrite"]) == 0
    err = error_of(capsys, ["train", str(path), "--resume", "--allow-config-change",
                            "--set", "model.head.feats_channels=8"])
    assert "does not fit the model" in err and "decode_head" in err


# ------------------------------------------------------------------------------- bad data
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
    err = error_of(capsys, ["train", str(config)])
    assert mask.name in err and "42" in err and "Original Traceback" not in err


# ------------------------------------------------------------------------------- ignore label
def test_the_dataset_owns_the_ignore_label(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", ignore_index=254, label_map={255: 254})
    from idrnet.data.build import build_split

    path = write_config(tmp_path, data, checkpoint_interval=2, val_interval=2)
    config = load_train_config(path)
    sample = build_split(config.data, "train", True)[0]
    assert 255 not in sample["label"].unique().tolist()
    trainer = Trainer(config)
    assert trainer.ignore_index == 254 and trainer.model.ignore_index == 254
    trainer.run()
    from idrnet.models.checkpoint import DATA_METADATA_KEY, read_checkpoint, read_metadata

    final = tmp_path / "run" / "final.safetensors"
    assert json.loads(read_metadata(final)[DATA_METADATA_KEY])["ignore_index"] == 254
    assert read_checkpoint(final)[1].ignore_index == 254
    # a model config that insists on another value is an error naming both
    with pytest.raises(ConfigError, match="254"):
        bad = load_train_config(path, ["model.ignore_index=200", f"work_dir={tmp_path / 'other'}"])
        Trainer(bad)
    # the dataset changed its ignore label after training: evaluation refuses, naming both
    spec = yaml.safe_load((data / "dataset.yaml").read_text())
    spec.update(ignore_index=253, label_map={255: 253})
    (data / "dataset.yaml").write_text(yaml.safe_dump(spec))
    err = error_of(capsys, ["test", str(path), "--checkpoint", str(final), "--out", str(tmp_path / "r.json")])
    assert "254" in err and "253" in err


# ------------------------------------------------------------------------------- non-finite numbers
def test_non_finite_config_numbers_and_zero_intervals_are_rejected(tmp_path, data):
    path = write_config(tmp_path, data)
    for override, key in (("optim.lr=.inf", "optim.lr"), ("optim.lr=nan", "optim.lr"),
                          ("val_interval=0", "val_interval"), ("checkpoint_interval=0", "checkpoint_interval"),
                          ("log_interval=-1", "log_interval"), ("optim.lr=0", "optim.lr")):
        with pytest.raises(ConfigError, match=key):
            load_train_config(path, [override])


def _poison(monkeypatch, steps):
    """Make the training loss non-finite at the given (0-based) optimiser steps."""
    import idrnet.engine.trainer as trainer_module

    real, calls = trainer_module.training_losses, {"n": 0}

    def poisoned(*args, **kwargs):
        losses = real(*args, **kwargs)
        if calls["n"] in steps:
            losses["total"] = losses["total"] * float("nan")
        calls["n"] += 1
        return losses

    monkeypatch.setattr(trainer_module, "training_losses", poisoned)


def test_on_nan_skip_counts_and_fails_past_its_limit(tmp_path, data, monkeypatch, capsys):
    _poison(monkeypatch, {1})
    config = load_train_config(write_config(tmp_path, data, iterations=3), ["on_nan=skip"])
    assert train(config)["skipped_non_finite_steps"] == 1
    assert "skipped 1 step(s) with a non-finite loss" in capsys.readouterr().out
    _poison(monkeypatch, set(range(100)))
    config = load_train_config(write_config(tmp_path, data, iterations=6),
                               ["on_nan=skip", "max_nan_skips=2", f"work_dir={tmp_path / 'b'}"])
    with pytest.raises(TrainingError, match="more than max_nan_skips=2"):
        train(config)


def test_a_checkpoint_with_non_finite_weights_is_never_written(tmp_path, data, monkeypatch):
    real_step = Trainer.step

    def step(self, images, targets, lr):
        losses = real_step(self, images, targets, lr)
        if self.optimizer.state and len(self.optimizer.state) and getattr(self, "_calls", 0) == 1:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("inf"))
        self._calls = getattr(self, "_calls", 0) + 1
        return losses

    monkeypatch.setattr(Trainer, "step", step)
    config = load_train_config(write_config(tmp_path, data, iterations=4, checkpoint_interval=1))
    with pytest.raises(TrainingError, match="non-finite by iteration 2.*latest.pt"):
        train(config)
    state = torch.load(tmp_path / "run" / "latest.pt", weights_only=True)
    assert state["iteration"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values()
                                          if v.is_floating_point())


# ------------------------------------------------------------------------------- messages, not tracebacks
def test_user_errors_are_one_line_without_traceback(tmp_path, data, capsys):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("model: [unclosed\n")
    assert "not valid YAML" in error_of(capsys, ["train", str(bad_yaml)])
    typo = write_config(tmp_path, data, "typo.yaml")
    err = error_of(capsys, ["train", str(typo), "--set", "model.head.dropot=0.2"])
    assert "model.head.dropot: unknown key" in err and "feats_channels" in err and "{" not in err
    err = error_of(capsys, ["train", str(typo), "--set", "model.backbone.name=resnet5O"])
    assert "resnet5O" in err and "did you mean" in err
    corrupt = tmp_path / "model.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    err = error_of(capsys, ["predict", str(data / "images" / "val"), "--model", str(corrupt), "--out", str(tmp_path / "p")])
    assert "model.safetensors" in err
    err = error_of(capsys, ["predict", str(data / "images" / "val"), "--model", "idrnet_fcn_resnet50os8_ade20k",
                            "--checkpoint", "official", "--out", str(tmp_path / "p")])
    assert "offline" in err
    err = error_of(capsys, ["convert", str(tmp_path / "iter_600.pt"), str(tmp_path / "x.safetensors")])
    assert "does not exist" in err
    err = error_of(capsys, ["predict", str(data / "images" / "val"), "--model", str(data), "--out", str(tmp_path / "p")])
    assert f"{data} is a folder, not a model" in err


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    run = subprocess.run([sys.executable, "-m", "idrnet.cli.main", "train", str(bad), "--debug"],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "Traceback" in run.stderr and "ConfigError" in run.stderr


def test_help_is_fast_and_loads_no_torch():
    code = ("import sys, contextlib, io\nfrom idrnet.cli.main import main\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'timm', 'cv2') if m in sys.modules))\nprint(buf.getvalue())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, _, help_text = run.stdout.partition("\n")
    assert first == "[]"
    assert "Convert a checkpoint, such as an official SSSegmentation .pth, to idrnet's safetensors format." in " ".join(help_text.split())
    run = subprocess.run([sys.executable, "-m", "idrnet.cli.main", "train", "--help"], capture_output=True, text=True)
    assert "\n  idrnet train CONFIG" in run.stdout  # usage examples keep their lines


# ------------------------------------------------------------------------------- export criterion, extras
def test_export_criterion_accepts_fp32_noise_and_catches_real_mismatches():
    from idrnet.deploy.export import agrees, output_agreement

    torch.manual_seed(0)
    logits = torch.randn(1, 5, 32, 32) * 10
    noise = logits + torch.randn_like(logits) * 1e-4 * logits.abs().max() * 0.05
    noise.view(-1)[7] += 1.5e-4 * logits.abs().max()  # one element beyond 1e-4 of the largest logit
    stats = output_agreement(logits, noise)
    assert stats["max_relative"] > 1e-4 and agrees(stats)
    wrong = logits.clone()
    wrong[:, :, :, 16:] = wrong[:, :, :, 16:].roll(1, dims=1)  # half the image, classes shifted
    assert not agrees(output_agreement(logits, wrong))


def test_export_check_sizes_none_and_missing_extras(tmp_path, monkeypatch, capsys):
    from tiny import tiny_config

    from idrnet import build_model, save_checkpoint

    ckpt = save_checkpoint(build_model(tiny_config("fcn")), tmp_path / "m.safetensors")
    assert cli(["export", str(ckpt), str(tmp_path / "m.onnx"), "--check-sizes", "none"]) == 0
    assert (tmp_path / "m.onnx").is_file()
    err = error_of(capsys, ["export", str(ckpt), str(tmp_path / "m.onnx")])
    assert "--overwrite" in err
    monkeypatch.setitem(sys.modules, "onnx", None)
    err = error_of(capsys, ["export", str(ckpt), str(tmp_path / "n.onnx")])
    assert "idrnet[deploy]" in err and "onnx" in err


def test_onnx_files_in_relations_and_test(tmp_path, data, capsys):
    from tiny import tiny_config

    from idrnet import build_model, save_checkpoint

    ckpt = save_checkpoint(build_model(tiny_config("idrnet", num_classes=11)), tmp_path / "m.safetensors")
    assert cli(["export", str(ckpt), str(tmp_path / "m.onnx"), "--check-sizes", "none"]) == 0
    err = error_of(capsys, ["relations", str(tmp_path / "m.onnx")])
    assert "ONNX" in err and ".safetensors" in err
    err = error_of(capsys, ["relations", str(ckpt), "--image", str(tmp_path / "missing.png")])
    assert "missing.png" in err
    config = write_config(tmp_path, data)
    assert cli(["test", str(config), "--checkpoint", str(tmp_path / "m.onnx"), "--out", str(tmp_path / "r.json")]) == 0
    assert "mIoU" in json.loads((tmp_path / "r.json").read_text())


def test_convert_reads_the_model_of_a_training_state(tmp_path, data):
    path = write_config(tmp_path, data, checkpoint_interval=2)
    train(load_train_config(path))
    out = tmp_path / "from_state.safetensors"
    assert cli(["convert", str(tmp_path / "run" / "iter_2.pt"), str(out)]) == 0
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(out))["decode_head.class_relations_mean"],
                       load_file(str(tmp_path / "run" / "final.safetensors"))["decode_head.class_relations_mean"])


def test_compare_names_two_final_checkpoints_apart():
    from idrnet.cli.compare import distinct_names

    assert distinct_names("runs/fcn/final.safetensors", "runs/idr/final.safetensors") == ("fcn/final", "idr/final")
    assert distinct_names("a.safetensors", "b.safetensors") == ("a", "b")


def test_bench_ratio_of_unmeasurable_memory_is_not_printed():
    from idrnet.cli.bench import _ratio

    assert _ratio(1558.0, 0.0, floor=1.0).startswith("× n/a") and _ratio(30.0, 15.0, floor=1.0) == "×2.00"


# ------------------------------------------------------------------------------- head seam
def test_the_head_seam_has_one_dict_and_no_idrnet_special_cases():
    from idrnet.models.heads import HEADS

    assert set(HEADS) == {"idrnet", "fcn", "pspnet", "deeplabv3", "upernet", "ocrnet"}
    for module in ("models/segmentor.py", "engine/losses.py", "engine/trainer.py", "models/build.py"):
        text = (ROOT / "src" / "idrnet" / module).read_text()
        assert "IDRNetHead" not in text and "is_idrnet" not in text and "head.type" not in text, module


def test_a_new_head_with_auxiliary_outputs_and_statistics_needs_no_other_change():
    """A head written against the protocol trains through the unchanged segmentor and losses."""
    import torch.nn as nn

    from idrnet.engine.losses import training_losses
    from idrnet.models.heads import AuxiliaryLogits, DecodeHead, HeadOutputs
    from tiny import tiny_config

    from idrnet import build_model

    class TwoStageHead(DecodeHead):
        def __init__(self, channels, k):
            super().__init__()
            self.first, self.second = nn.Conv2d(channels, k, 1), nn.Conv2d(channels, k, 1)
            self.updates = 0

        def forward(self, features):
            return self.second(features[-1])

        def forward_train(self, features):
            return HeadOutputs(self(features), {"first": AuxiliaryLogits(self.first(features[-1]), 0.25)}, "state")

        def update_statistics(self, state, targets, ignore_index, **options):
            assert state == "state" and ignore_index == 7
            self.updates += 1

    model = build_model(tiny_config("fcn"))
    model.decode_head = TwoStageHead(model.backbone.channels[-1], 5)
    model.train()
    targets = torch.randint(0, 5, (2, 32, 32))
    losses = training_losses(model, torch.randn(2, 3, 32, 32), targets, ignore_index=7)
    assert list(losses) == ["aux", "first", "main", "total"] and model.decode_head.updates == 1
    assert torch.allclose(losses["total"], losses["aux"] + losses["first"] + losses["main"])


def test_a_failed_download_is_one_line(tmp_path, monkeypatch):
    import urllib.error

    import torch.hub

    from idrnet.models import download

    def no_network(url, dst, progress=True):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("IDRNET_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("IDRNET_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(download.DownloadError, match="cannot download .*name resolution.*local file") as info:
        download.fetch("https://example.invalid/models/m-0123abcd.pth")
    assert "\n" not in str(info.value) and not list(tmp_path.rglob("*.part"))


def test_test_never_writes_predictions_into_the_dataset(tmp_path, data, capsys):
    config = write_config(tmp_path, data)
    err = error_of(capsys, ["test", str(config), "--checkpoint", "official",
                            "--save-predictions", str(data / "masks" / "val")])
    assert "inside the dataset folder" in err


def test_an_internal_error_shows_its_traceback_and_says_it_is_a_bug(monkeypatch, capsys):
    import idrnet.cli.models as verb

    def broken(_args):
        raise RuntimeError("an invariant broke")

    monkeypatch.setattr(verb, "run", broken)
    assert cli(["models"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: an invariant broke" in err
    assert err.strip().splitlines()[-1].startswith("This is a bug in idrnet")


def test_a_bare_value_error_is_a_bug_not_a_user_mistake(monkeypatch, capsys):
    import idrnet.cli.models as verb

    def broken(_args):
        raise ValueError("operands could not be broadcast")  # what numpy says: idrnet's fault, not the user's

    monkeypatch.setattr(verb, "run", broken)
    assert cli(["models"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "This is a bug in idrnet" in err


def test_what_users_give_is_an_input_error(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from idrnet import build_model, save_checkpoint
    from idrnet.errors import InputError, UnknownNameError
    from idrnet.models.checkpoint import CONFIG_METADATA_KEY, read_metadata
    from idrnet.models.zoo import get_entry
    from tiny import tiny_config

    with pytest.raises(UnknownNameError) as info:
        get_entry("idrnet_fcn_resnet50os8_ade2k")
    assert isinstance(info.value, KeyError) and isinstance(info.value, InputError)
    assert str(info.value).startswith("unknown model 'idrnet_fcn_resnet50os8_ade2k'; did you mean")
    path = save_checkpoint(build_model(tiny_config("fcn")).eval(), tmp_path / "m.safetensors")
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(path)), str(bad), metadata={**read_metadata(path), CONFIG_METADATA_KEY: "{not json"})
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(image)
    err = error_of(capsys, ["predict", str(image), "--model", str(bad), "--out", str(tmp_path / "p")])
    assert f"{bad}:{CONFIG_METADATA_KEY}: not valid JSON" in err
    err = error_of(capsys, ["predict", str(image), "--model", str(path), "--device", "cux", "--out", str(tmp_path / "p")])
    assert "--device cux: expected cpu, cuda, cuda:N or auto" in err


def test_a_zoo_name_without_weights_is_refused_by_inference_verbs(tmp_path, capsys):
    import socket

    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(image)
    expected = "idrnet_fcn_resnet50os8_ade20k is a zoo name: pass --checkpoint PATH or --checkpoint official"
    assert expected in error_of(capsys, ["predict", str(image), "--model", "idrnet_fcn_resnet50os8_ade20k",
                                         "--out", str(tmp_path / "p")])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pytest.importorskip("fastapi")
    assert expected in error_of(capsys, ["serve", "idrnet_fcn_resnet50os8_ade20k", "--port", str(port)])
