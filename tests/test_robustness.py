"""idrnet robustness: the report of one or two models under corruptions, its agreement with a plain
evaluation of corrupted images, resuming after kill -9, and careless input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import idrnet
from idrnet.data.build import build_split
from idrnet.data.corruptions import Corrupt
from idrnet.engine.config import load_train_config
from idrnet.engine.trainer import train
from idrnet.evaluation.evaluator import evaluate

from runs import ROOT, cli, error_of, make_dataset, write_config


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """An FCN and an IDRNet model trained for a few iterations on generated data, and their config."""
    root = tmp_path_factory.mktemp("robust")
    data = make_dataset(root / "data", train=4, val=4, size=32)
    fcn = write_config(root, data, "fcn.yaml", work_dir=str(root / "fcn"), iterations=3,
                       model={"num_classes": 11, "backbone": {"name": "resnet18v1c", "base_width": 4},
                              "head": {"type": "fcn", "feats_channels": 16}})
    idr = write_config(root, data, "idr.yaml", work_dir=str(root / "idr"), iterations=3)
    for config in (fcn, idr):
        train(load_train_config(config))
    return root, fcn, root / "fcn" / "final.safetensors", root / "idr" / "final.safetensors", data


def test_two_models_report_matches_plain_evaluation_of_the_corrupted_images(pair, tmp_path):
    root, config, a, b, _ = pair
    report = idrnet.robustness(str(a), str(b), data=config, corruptions=["gaussian_noise", "fog"], severities=[2, 5],
                               out=tmp_path / "r", resamples=50, workers=1)
    assert set(report["models"]) == {"A", "B"} and report["images"] == 4
    assert report["corruptions"] == ["gaussian_noise", "fog"] and report["severities"] == [2, 5]
    train_config = load_train_config(config)
    for key, weights in (("A", a), ("B", b)):
        model = idrnet.create_model(str(weights), checkpoint=None).eval()
        entry = report["models"][key]
        dataset = build_split(train_config.data, "val", train=False)
        assert entry["clean_miou"] == pytest.approx(evaluate(model, dataset)["mIoU"], abs=1e-12)
        for corruption, severity in (("gaussian_noise", 2), ("fog", 5)):
            corrupted = build_split(train_config.data, "val", train=False)
            corrupted.pipeline.transforms.insert(0, Corrupt(corruption, severity))
            metrics = evaluate(model, corrupted)
            cell = entry["cells"][corruption][str(severity)]
            assert cell["miou"] == pytest.approx(metrics["mIoU"], abs=1e-12)
            assert np.allclose(np.nan_to_num(cell["iou"], nan=-1), np.nan_to_num(metrics["IoU"], nan=-1))
        cells = [entry["cells"][c][str(s)]["miou"] for c in report["corruptions"] for s in report["severities"]]
        assert entry["mpc"] == pytest.approx(np.mean(cells))
        assert entry["rpc"] == pytest.approx(entry["mpc"] / entry["clean_miou"])
    diff = report["difference"]
    assert diff["mpc"]["value"] == pytest.approx(report["models"]["B"]["mpc"] - report["models"]["A"]["mpc"])
    lo, hi = diff["mpc"]["ci95"]
    assert lo <= diff["mpc"]["value"] <= hi
    assert set(diff["per_corruption"]) == {"gaussian_noise", "fog"} and set(diff["per_severity"]) == {"2", "5"}
    written = json.loads((tmp_path / "r" / "robustness.json").read_text())
    assert written["difference"]["mpc"]["value"] == pytest.approx(diff["mpc"]["value"])
    assert "| B − A |" in (tmp_path / "r" / "robustness.md").read_text()
    for plot in ("miou_by_severity.png", "rpc_by_corruption.png", "examples.png"):
        assert (tmp_path / "r" / plot).stat().st_size > 5000


def test_each_image_is_corrupted_once_for_both_models(pair, monkeypatch):
    import idrnet.evaluation.robustness as sweep

    calls = []
    real = sweep.corrupt
    monkeypatch.setattr(sweep, "corrupt", lambda *args: calls.append(args[1:3]) or real(*args))
    _, config, a, b, _ = pair
    report = idrnet.robustness(str(a), str(b), data=config, corruptions=["contrast"], severities=[1, 3],
                               resamples=20, workers=0, limit=3)
    assert sorted(calls) == [("contrast", 1)] * 3 + [("contrast", 3)] * 3
    assert report["images"] == 3 and set(report["models"]) == {"A", "B"}


def test_one_model_and_groups(pair):
    _, config, a, _, _ = pair
    report = idrnet.robustness(str(a), data=config, corruptions=["digital"], severities=[1], resamples=20, workers=0,
                               limit=2)
    assert report["corruptions"] == ["contrast", "elastic_transform", "pixelate", "jpeg_compression"]
    assert "difference" not in report and list(report["models"]) == ["A"]


def _command(config: Path, a: Path, b: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "idrnet.cli.main", "robustness", str(a), str(b), "--data", str(config),
            "--corruptions", "noise", "blur", "--severities", "1", "2", "3", "4", "5", "--out", str(out),
            "--resamples", "50", "--workers", "1"]


def test_a_killed_run_continues_to_the_same_numbers(pair, tmp_path):
    _, config, a, b, _ = pair
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    subprocess.run(_command(config, a, b, tmp_path / "whole"), check=True, env=env, capture_output=True)
    out = tmp_path / "killed"
    process = subprocess.Popen(_command(config, a, b, out), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(list((out / "cells").glob("*.npz"))) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = sorted((out / "cells").glob("*.npz"))
    assert 3 <= len(finished) < 31 and not (out / "robustness.json").exists()
    first = finished[0].stat().st_mtime_ns
    subprocess.run(_command(config, a, b, out), check=True, env=env, capture_output=True)
    assert finished[0].stat().st_mtime_ns == first  # finished cells are not recomputed
    whole = json.loads((tmp_path / "whole" / "robustness.json").read_text())
    resumed = json.loads((out / "robustness.json").read_text())
    for key in ("models", "difference", "corruptions", "severities", "images"):
        assert resumed[key] == whole[key], key
    # a finished folder is not replaced without --overwrite
    before = (out / "robustness.json").read_bytes()
    done = subprocess.run(_command(config, a, b, out), env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "--overwrite" in done.stderr and "Traceback" not in done.stderr
    assert (out / "robustness.json").read_bytes() == before


def test_careless_input(pair, tmp_path, capsys):
    root, config, a, b, data = pair
    base = ["robustness", str(a), str(b), "--data", str(config)]
    out = tmp_path / "out"
    err = error_of(capsys, [*base, "--corruptions", "fogg", "--out", str(out)])
    assert "fogg" in err and "noise, blur, weather, digital" in err and "gaussian_noise" in err
    with pytest.raises(SystemExit) as exit_info:
        cli([*base, "--severities", "6", "--out", str(out)])
    assert exit_info.value.code == 2 and "from 1 to 5" in capsys.readouterr().err
    err = error_of(capsys, [*base, "--out", str(data / "report")])
    assert "inside the dataset folder" in err
    err = error_of(capsys, [*base, "--names", "baseline", "--out", str(out)])
    assert "--names baseline: expected two names, one per model, got 1" in err
    err = error_of(capsys, [*base, "--names", "ours", "ours", "--out", str(out)])  # tables and plots showed "ours" twice
    assert "names ours ours: the report, tables and plots tell the models apart by these names" in err
    # a model with other classes
    other = write_config(tmp_path, data, "seven.yaml", work_dir=str(tmp_path / "seven"), iterations=1,
                         model={"num_classes": 7, "backbone": {"name": "resnet18v1c", "base_width": 4},
                                "head": {"type": "fcn", "feats_channels": 8}})
    idrnet.save_checkpoint(idrnet.create_model(load_train_config(other).model), tmp_path / "seven.safetensors")
    err = error_of(capsys, ["robustness", str(a), str(tmp_path / "seven.safetensors"), "--data", str(config),
                            "--out", str(out)])
    assert "11 classes" in err and "7" in err
    # a split without labels
    (data / "images" / "unlabelled").mkdir(exist_ok=True)
    for image in sorted((data / "images" / "val").iterdir())[:2]:
        (data / "images" / "unlabelled" / image.name).write_bytes(image.read_bytes())
    err = error_of(capsys, [*base, "--split", "unlabelled", "--out", str(out)])
    assert "no labels" in err and "unlabelled" in err
    assert not out.exists()  # nothing written by any of these
    # a folder holding something else, or an unfinished run of other settings
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    err = error_of(capsys, [*base, "--corruptions", "fog", "--severities", "1", "--out", str(out), "--limit", "1"])
    assert "not empty" in err
    (out / "mine.txt").unlink()
    (out / "run.json").write_text(json.dumps({"split": "train"}))
    err = error_of(capsys, [*base, "--corruptions", "fog", "--severities", "1", "--out", str(out), "--limit", "1"])
    assert "other settings" in err and "split" in err


def test_the_python_api_takes_one_corruption_or_severity_without_a_list(pair, tmp_path):
    """robustness(corruptions="fog") read the letters f, o, g ("unknown corruption 'f'") and severities=2 was a
    TypeError ('int' object is not iterable)."""
    _, config, a, _, _ = pair
    report = idrnet.robustness(str(a), data=config, corruptions="fog", severities=2, limit=1, workers=0, resamples=10)
    assert report["corruptions"] == ["fog"] and report["severities"] == [2]
    with pytest.raises(ValueError, match=r"severities='2': expected a list of integers from 1 to 5"):
        idrnet.robustness(str(a), data=config, corruptions="fog", severities="2", limit=1, workers=0)
    # out= names a folder: a file name there made a folder called report.json (the command line refused it)
    with pytest.raises(ValueError, match=r"out=\S*report.json looks like a file name, but out names a folder"):
        idrnet.robustness(str(a), data=config, corruptions="fog", severities=2, limit=1, workers=0,
                          out=tmp_path / "report.json")
    assert not (tmp_path / "report.json").exists()


def test_corruptions_and_severities_as_people_write_them(monkeypatch, capsys, tmp_path):
    """"--corruptions fog,snow" was "unknown corruption 'fog,snow'" and "--severities 1-3" not a severity."""
    import idrnet.apis.robustness as api
    from idrnet.errors import InputError

    asked = {}

    def fake(*args, **kwargs):
        asked.update(kwargs)
        raise InputError("stopped here")

    monkeypatch.setattr(api, "robustness", fake)
    argv = ["robustness", "m.safetensors", "--data", "c.yaml", "--out", str(tmp_path / "o")]
    assert cli([*argv, "--corruptions", "fog,snow", "blur", "fog", "--severities", "2-4", "1,3", "5"]) == 2
    assert asked["corruptions"] == ["fog", "snow", "blur"] and asked["severities"] == [2, 3, 4, 1, 5]
    assert cli(argv) == 2 and asked["corruptions"] == ["all"] and asked["severities"] == [1, 2, 3, 4, 5]
    monkeypatch.undo()  # the real one: an empty list of corruptions wrote a report of no cells
    err = error_of(capsys, [*argv, "--corruptions", ","])
    assert "no corruption named; expected all, a group" in err and not (tmp_path / "o").exists()
    for bad in ("0", "1-6", "4-2", "1,,x", ","):
        with pytest.raises(SystemExit):
            cli([*argv, "--severities", bad])
        assert "expected severities from 1 to 5 (e.g. 3, 1,3 or 2-5)" in capsys.readouterr().err


def test_docs_commands_run(pair, tmp_path):
    """The commands of docs/robustness.md, on the generated data instead of the user's files."""
    _, config, a, b, _ = pair
    text = (ROOT / "docs" / "robustness.md").read_text()
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("idrnet robustness ")]
    assert commands
    for i, line in enumerate(commands):
        argv = line.split()[1:]
        argv = [str(a) if x == "runs/fcn/final.safetensors" else str(b) if x == "runs/idrnet/final.safetensors"
                else str(config) if x == "configs/my_data.yaml" else x for x in argv]
        argv = [str(tmp_path / f"r{i}") if x.startswith("robustness/") else x for x in argv]
        argv += ["--limit", "1", "--resamples", "10", "--severities", "1", "--workers", "0"]
        assert cli(argv) == 0, line


def test_an_onnx_file_and_a_safetensors_file_give_the_same_report(pair, tmp_path):
    _, config, a, _, _ = pair
    model = idrnet.create_model(str(a))
    onnx_file = idrnet.export_onnx(model, tmp_path / "a.onnx", (32, 32))
    kwargs = dict(data=config, corruptions=["brightness"], severities=[4], resamples=20, workers=0, limit=2)
    torch_report = idrnet.robustness(str(a), **kwargs)
    onnx_report = idrnet.robustness(str(onnx_file), **kwargs)
    for key in ("clean_miou", "mpc"):
        assert onnx_report["models"]["A"][key] == pytest.approx(torch_report["models"]["A"][key], abs=1e-3)


def test_batched_sweep_equals_one_image_at_a_time_with_images_of_two_sizes(pair, tmp_path):
    """Images of one cell go through a model in batches of one size; a dataset whose images differ in size
    is split into same-size groups, and the areas are those of one image at a time."""
    import shutil

    import torch
    from PIL import Image

    from idrnet.evaluation.confusion import confusion_of, confusions_of
    from idrnet.evaluation.robustness import cell_batches, run_sweep, sweep_cells

    root, config, a, b, data = pair
    mixed = tmp_path / "data"
    shutil.copytree(data, mixed)
    for folder, resample in (("images", Image.BILINEAR), ("masks", Image.NEAREST)):
        first = sorted((mixed / folder / "val").iterdir())[1]
        with Image.open(first) as im:
            im.resize((40, 24), resample).save(first)
    train_config = load_train_config(config, [f"data.root={mixed}"])
    dataset = build_split(train_config.data, "val", train=False)
    assert len({tuple(dataset[i]["image"].shape) for i in range(4)}) == 2
    models = [idrnet.create_model(str(w), checkpoint=None).eval() for w in (a, b)]
    cells = sweep_cells(["gaussian_noise", "contrast"], [3])
    stored = {}
    for size in (1, 3):
        run_sweep(models, [None, None], dataset, cells, tmp_path / f"cells{size}", 4, workers=0, batch_size=size)
        stored[size] = {p.name: dict(np.load(p)) for p in (tmp_path / f"cells{size}").iterdir()}
    assert set(stored[1]) == {"clean.npz", "gaussian_noise-3.npz", "contrast-3.npz"}
    for name, arrays in stored[1].items():
        for key in ("intersection", "union"):
            assert np.array_equal(arrays[key], stored[3][name][key]), (name, key)
    assert cell_batches(2, 4, 3) == [[0, 1, 2], [3], [4, 5, 6], [7]]  # never across a cell's end
    labels = torch.randint(0, 5, (3, 6, 7))
    labels[0, 0] = 255
    predictions = torch.randint(0, 5, (3, 6, 7))
    assert torch.equal(confusions_of(predictions, labels, 5, 255),
                       torch.stack([confusion_of(p, t, 5, 255) for p, t in zip(predictions, labels)]))


def test_the_same_model_twice_is_noted(pair, tmp_path, capsys):
    """A/B of one file given twice (or a copy of it) reported differences of exactly zero as a result."""
    import shutil

    root, config, a, b, data = pair
    copy = tmp_path / "copy.safetensors"
    shutil.copy(b, copy)
    base = ["--data", str(config), "--corruptions", "fog", "--severities", "1", "--limit", "1", "--workers", "0"]
    assert cli(["robustness", str(b), str(copy), *base, "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "idrnet robustness: warning: models A and B have the same weights" in err and "UserWarning" not in err
    assert cli(["compare", str(b), str(b), "--data", str(config), "--out", str(tmp_path / "c")]) == 0
    assert "idrnet compare: warning: models A and B have the same weights" in capsys.readouterr().err
    assert cli(["robustness", str(a), str(b), *base, "--out", str(tmp_path / "r2")]) == 0
    assert "same weights" not in capsys.readouterr().err

    # Exported graphs: one ONNX file and a copy of it are the same model; two exports of different weights,
    # or one file at two precisions, are not.
    from idrnet.apis.load import load_trained, same_weights_note

    files = [idrnet.export_onnx(idrnet.create_model(str(w)), tmp_path / f"{arm}.onnx", (32, 32)) for arm, w in zip("ab", (a, b))]
    twin = tmp_path / "twin.onnx"
    shutil.copy(files[1], twin)
    assert cli(["compare", str(files[1]), str(twin), "--data", str(config), "--out", str(tmp_path / "c2")]) == 0
    assert "idrnet compare: warning: models A and B are the same exported file" in capsys.readouterr().err
    graphs = [load_trained(str(f)).model for f in (*files, twin)]
    assert same_weights_note(graphs[0], graphs[1]) is None
    graphs[2].precision = "int8"
    assert same_weights_note(graphs[1], graphs[2]) is None


def test_a_finished_out_is_refused_before_the_models_load_with_a_dataset_folder(pair, tmp_path, monkeypatch, capsys):
    """With a dataset folder as --data the models were loaded (for their training sizes) before --out was
    looked at, so a finished report was refused only after that work; --out is looked at first now."""
    import idrnet.apis.load as load

    _, _, a, b, data = pair
    out = tmp_path / "done"
    out.mkdir()
    (out / "robustness.json").write_text("{}")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    loads = []
    real = load.load_trained
    monkeypatch.setattr(load, "load_trained", lambda *a, **k: loads.append(a) or real(*a, **k))
    for folder, expected in ((out, "finished robustness report"), (tmp_path / "mine", "not empty")):
        err = error_of(capsys, ["robustness", str(a), str(b), "--data", str(data), "--out", str(folder)])
        assert expected in err
    assert loads == []


def test_more_workers_than_cores_is_one_warning(pair, tmp_path, capsys, monkeypatch):
    """--workers 3 on fewer cores printed PyTorch's paragraph ("This DataLoader will create 3 worker
    processes …"); one line of ours now."""
    import idrnet.devices as devices

    _, config, a, _, _ = pair
    monkeypatch.setattr(devices, "usable_cores", lambda: 1)
    assert cli(["robustness", str(a), "--data", str(config), "--corruptions", "fog", "--severities", "1",
                "--limit", "1", "--workers", "3", "--resamples", "10", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "warning: --workers is 3 but this process may use 1 CPU core(s)" in err
    assert "This DataLoader will create" not in err
