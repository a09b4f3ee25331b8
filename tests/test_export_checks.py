"""The export's agreement criterion, its size checks and exported files in other verbs."""

from __future__ import annotations

import json
import sys

import torch
from runs import error_of, write_config

from idrnet.cli.main import main as cli


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


def test_export_refuses_an_untraceable_example_size_and_an_opset_it_cannot_write(tmp_path, capsys):
    """--example-size 1x1 failed inside torch.export (an internal error); --opset 5 printed a converter
    traceback and silently wrote opset 18; --opset 99 failed on a temporary file's name."""
    from tiny import tiny_config

    from idrnet import build_model, save_checkpoint

    ckpt = save_checkpoint(build_model(tiny_config("fcn")), tmp_path / "m.safetensors")
    out = tmp_path / "m.onnx"
    for argv, message in ((["--example-size", "1x1"], "--example-size 1x1: a graph for any size is traced at sides of 32"),
                          (["--opset", "5"], "--opset 5: expected 18"), (["--opset", "99"], "--opset 99: expected 18")):
        err = error_of(capsys, ["export", str(ckpt), str(out), *argv])
        assert message in err and "Traceback" not in err
    assert "--fixed-size" in error_of(capsys, ["export", str(ckpt), str(out), "--example-size", "1x1"])
    assert not out.exists()


def test_check_sizes_a_fixed_size_graph_cannot_take_are_noted(tmp_path, capsys):
    """--fixed-size --check-sizes 64x64 dropped the 64x64 check with no word and reported agreement."""
    from tiny import tiny_config

    from idrnet import build_model, save_checkpoint

    ckpt = save_checkpoint(build_model(tiny_config("fcn")), tmp_path / "m.safetensors")
    assert cli(["export", str(ckpt), str(tmp_path / "m.onnx"), "--fixed-size", "--example-size", "48x48",
                "--check-sizes", "64x64", "48x48"]) == 0
    out = capsys.readouterr().out
    assert "note: a --fixed-size graph takes 48x48 inputs only" in out and "--check-sizes 64x64 not checked" in out


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


def test_every_verb_runs_an_onnx_file_with_its_default_backend(tmp_path, data, capsys, monkeypatch):
    """The suite sets IDRNET_BACKEND=eager (no compile time), which skips the verbs' own choice of backend:
    `serve model.onnx` failed that way unseen ("runs with onnxruntime or openvino, not eager"). Here the
    verbs choose, as for a user."""
    from tiny import tiny_config

    from idrnet import build_model, save_checkpoint

    ckpt = save_checkpoint(build_model(tiny_config("idrnet", num_classes=11)), tmp_path / "m.safetensors")
    onnx = str(tmp_path / "m.onnx")
    assert cli(["export", str(ckpt), onnx, "--check-sizes", "none"]) == 0
    config = str(write_config(tmp_path, data))
    image = str(next((data / "images" / "val").iterdir()))
    monkeypatch.delenv("IDRNET_BACKEND")
    runs = {
        "test": ["test", config, "--checkpoint", onnx, "--out", str(tmp_path / "r.json")],
        "predict": ["predict", image, "--model", onnx, "--out", str(tmp_path / "p")],
        "compare": ["compare", onnx, onnx, "--data", config, "--out", str(tmp_path / "c"), "--resamples", "10",
                    "--gallery", "0"],
        "robustness": ["robustness", onnx, "--data", config, "--out", str(tmp_path / "rb"), "--corruptions", "fog",
                       "--severities", "2", "--resamples", "10", "--workers", "0"],
        "bench": ["bench", onnx, "--size", "32", "--runs", "1", "--warmup", "0"],
    }
    for verb, argv in runs.items():
        code = cli(argv)
        out = capsys.readouterr()
        assert code == 0, f"{verb}: {out.err}"
    assert "onnxruntime" in out.out  # bench says which backend ran
