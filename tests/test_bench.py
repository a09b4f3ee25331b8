"""idrnet bench: the protocol runs and reports every figure; baselines are derived correctly."""

from __future__ import annotations

import json

import pytest
import yaml

from idrnet.config import to_dict
from idrnet.dropin.external import baseline_of
from tiny import tiny_config


@pytest.mark.parametrize("head,expected", [
    ({}, "fcn"), ({"context": "ppm"}, "pspnet"), ({"context": "aspp", "context_refiner": "after"}, "deeplabv3"),
    ({"context": "aspp", "fpn_channels": 16}, "upernet"),
])
def test_baseline_of_removes_only_idrnet(head, expected):
    config = tiny_config("idrnet", **head)
    base = baseline_of(config)
    assert base.head.type == expected and base.backbone == config.backbone and base.auxiliary == config.auxiliary


def test_bench_cli_vs_baseline_prints_every_figure(tmp_path, capsys):
    from idrnet.cli.main import main

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(to_dict(tiny_config("idrnet"))))
    log = tmp_path / "bench.jsonl"
    assert main(["bench", str(path), "--size", "64x64", "--runs", "4", "--warmup", "1", "--rounds", "2",
                 "--vs-baseline", "--threads", "1", "--device", "cpu", "--json", str(log),
                 "--backend", "eager", "onnxruntime"]) == 0
    out = capsys.readouterr().out
    assert "1 CPU threads" in out and "IDRNet / baseline [fp32, eager]: latency ×" in out
    assert "IDRNet / baseline [fp32, onnxruntime]: latency ×" in out and "tiny: onnxruntime / eager latency ×" in out
    records = [json.loads(line) for line in log.read_text().splitlines()]
    # one record per model and backend, all measured in one interleaved run
    assert all(r["precision"] == r["effective_precision"] == "fp32" for r in records)
    assert [(r["name"] == "tiny", r["backend"]) for r in records] == [
        (True, "eager"), (False, "eager"), (True, "onnxruntime"), (False, "onnxruntime")]
    assert all(r["runs"] == 4 for r in records)
    assert records[0]["gflops"] > records[1]["gflops"] > 0 and records[0]["params_m"] > records[1]["params_m"]


def test_bench_json_never_appends_to_a_model_picture_or_folder(tmp_path, capsys):
    """--json appends results: given the model file itself (or another file that is not JSON lines) by
    mistake, it used to append text to it and break it."""
    from idrnet import create_model, save_checkpoint
    from idrnet.cli.main import main

    model = save_checkpoint(create_model(tiny_config("idrnet")), tmp_path / "tiny.safetensors")
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    before = {p: p.read_bytes() for p in (model, picture)}
    bench = ["bench", str(model), "--size", "32x32", "--runs", "1", "--warmup", "0", "--device", "cpu", "--json"]
    training_log = tmp_path / "log.jsonl"  # a training run's log, which --resume reads back
    training_log.write_text('{"iter": 10, "loss": 1.5, "lr": 0.01}\n')
    before[training_log] = training_log.read_bytes()
    for target, message in ((model, "is the model file"), (picture, "not a JSON-lines file"), (tmp_path, "is a folder"),
                            (training_log, "holds JSON lines of something else (its first line has iter, loss, lr")):
        assert main([*bench, str(target)]) == 2
        assert message in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before
    # a results file whose last line lost its line break gets the new records on lines of their own
    log = tmp_path / "bench.jsonl"
    log.write_text('{"name": "earlier", "latency_ms_median": 1.0}')
    assert main([*bench, str(log)]) == 0
    assert [json.loads(line)["name"] for line in log.read_text().splitlines()] == ["earlier", "tiny"]


def test_bench_notes_more_threads_than_cores(tmp_path, capsys):
    """Timings with more threads than the process may use measure the threads' contention (on a 2-core host
    --threads 8 made a tiny model 2.7× slower), which a reader would take for the model's speed."""
    import os

    from idrnet.cli.main import main

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(to_dict(tiny_config("idrnet"))))
    cores = len(os.sched_getaffinity(0))
    assert main(["bench", str(path), "--size", "32x32", "--runs", "1", "--warmup", "0", "--device", "cpu",
                 "--threads", str(cores + 1)]) == 0
    assert f"note: --threads {cores + 1} on {cores} CPU core(s)" in capsys.readouterr().out
    assert main(["bench", str(path), "--size", "32x32", "--runs", "1", "--warmup", "0", "--device", "cpu",
                 "--threads", "1"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_bench_times_an_exported_onnx_file_as_it_is_deployed(tmp_path, capsys):
    """bench refused .onnx files ("pass the .safetensors it was exported from"): the file users deploy,
    an int8 export included, could not be timed."""
    pytest.importorskip("onnxruntime")
    from idrnet import create_model, export_onnx
    from idrnet.cli.main import main

    graph = export_onnx(create_model(tiny_config("idrnet")), tmp_path / "tiny.onnx", (32, 32))
    log = tmp_path / "new" / "bench.jsonl"  # in a folder not made yet: failed after measuring
    common = ["--size", "32x32", "--runs", "2", "--warmup", "1", "--device", "cpu"]
    assert main(["bench", str(graph), *common, "--json", str(log)]) == 0
    assert "tiny [fp32, onnxruntime, cpu" in capsys.readouterr().out
    record = json.loads(log.read_text())
    assert record["backend"] == "onnxruntime" and record["effective_precision"] == "fp32"
    assert record["params_m"] is None and record["gflops"] is None and record["latency_ms_median"] > 0
    for extra, message in ((["--backend", "eager"], "is an exported model: it runs with --backend onnxruntime or "
                                                    "openvino, not eager"),
                           (["--vs-baseline"], "--vs-baseline builds the network without IDRNet from the PyTorch model"),
                           (["--precision", "int8"], "is an fp32 ONNX file; for int8 write one with")):
        assert main(["bench", str(graph), *common, *extra]) == 2
        assert message in capsys.readouterr().err
