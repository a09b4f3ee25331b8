"""What the command line says: user errors in one line, internal errors with a traceback, help without torch."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from runs import error_of, write_config

from idrnet.cli.main import main as cli


def test_a_key_written_twice_in_a_yaml_is_refused(tmp_path, data, capsys):
    """PyYAML keeps the last of two equal keys without a word: a second `iterations:` (or `lr:`) added at the
    end of a config, or twice in a dataset.yaml, silently replaced the first. Both lines are named; a YAML
    merge ('<<: *base' then a key of the base) is not a repeat."""
    config = write_config(tmp_path, data, "twice.yaml")
    config.write_text(config.read_text() + "iterations: 7\n")
    assert "key 'iterations' is given twice (lines" in error_of(capsys, ["train", str(config)])
    config.write_text("model: {num_classes: 3, num_classes: 4}\n")
    assert "key 'num_classes' is given twice (line 1)" in error_of(capsys, ["train", str(config)])
    described = tmp_path / "described"
    shutil.copytree(data, described)
    spec = described / "dataset.yaml"
    spec.write_text(spec.read_text() + "ignore_index: 255\nignore_index: 0\n")
    assert "dataset.yaml: key 'ignore_index' is given twice" in error_of(capsys, ["data", "check", str(described)])
    from idrnet.config.yaml_file import load_yaml_file

    merged = tmp_path / "merged.yaml"
    merged.write_text("base: &b {lr: 0.1, momentum: 0.9}\noptim:\n  <<: *b\n  lr: 0.2\n")
    assert load_yaml_file(merged)["optim"] == {"lr": 0.2, "momentum": 0.9}


def test_a_config_naming_itself_as_base_is_named_so(tmp_path, data, capsys):
    """`base: train.yaml` inside train.yaml was answered "a base config cannot have a base itself"; a chain
    of two bases is still refused as more than one level."""
    config = write_config(tmp_path, data, "train.yaml")
    text = config.read_text()
    config.write_text("base: train.yaml\n" + text)
    assert "train.yaml: base: names this file itself" in error_of(capsys, ["train", str(config)])
    (tmp_path / "root.yaml").write_text(text)
    (tmp_path / "middle.yaml").write_text("base: root.yaml\niterations: 3\n")
    config.write_text("base: middle.yaml\n")
    assert "middle.yaml: a base config cannot have a base itself" in error_of(capsys, ["train", str(config)])


def test_user_errors_are_one_line_without_traceback(tmp_path, data, capsys):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("model: [unclosed\n")
    assert "not valid YAML" in error_of(capsys, ["train", str(bad_yaml)])
    # PyYAML's own words ('found character \\t that cannot start any token in "<byte string>"') are given
    # with the line, and the usual slips with what to do
    for text, said in (("model:\n\tnum_classes: 3\n", "line 2, column 1 ('num_classes: 3')"),
                       ("model:\n\tnum_classes: 3\n", "YAML indents with spaces, not tabs"),
                       ("model:\n  num_classes: 3\n data:\n  root: x\n", "line 3, column 2 ('data:')"),
                       ("model:\n  backbone: resnet: 3\n", "a value holding ': ' needs quotes")):
        bad_yaml.write_text(text)
        err = error_of(capsys, ["train", str(bad_yaml)])
        assert said in err and "<byte string>" not in err
    err = error_of(capsys, ["train", str(write_config(tmp_path, data, "ok.yaml")), "--set", "data.crop=[32,32"])
    assert "the value '[32,32' is not valid YAML" in err and "is not closed" in err and "<unicode string>" not in err
    # a config saved by Windows PowerShell's `>` (UTF-16) trains; one in Latin-1 is named as such
    good = write_config(tmp_path, data, "utf16.yaml")
    good.write_text(good.read_text(encoding="utf-8"), encoding="utf-16")
    from idrnet.engine.config import load_train_config

    assert load_train_config(good).iterations == 2
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("model: {name: caf\u00e9}\n".encode("latin-1"))
    assert "latin.yaml: not UTF-8 text (byte 17" in error_of(capsys, ["train", str(latin)])
    model = tmp_path / "m.safetensors"  # a binary file given as the config
    model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    assert "binary data, not YAML text" in error_of(capsys, ["data", "check", str(model)])
    typo = write_config(tmp_path, data, "typo.yaml")
    err = error_of(capsys, ["train", str(typo), "--set", "model.head.dropot=0.2"])
    assert "model.head.dropot: unknown key; did you mean 'dropout'?" in err and "feats_channels" in err and "{" not in err
    err = error_of(capsys, ["train", str(typo), "--set", "optimizer.lr=0.1"])
    assert "optimizer: unknown key; did you mean 'optim'?" in err
    # a key written one level too high is answered with where it belongs
    assert "crop: unknown key; did you mean data.crop?" in error_of(capsys, ["train", str(typo), "--set", "crop=[64,64]"])
    err = error_of(capsys, ["train", str(typo), "--set", "model.feats_channels=32"])
    assert "model.feats_channels: unknown key; did you mean model.head.feats_channels?" in err
    err = error_of(capsys, ["train", str(typo), "--set", "dropout=0.1"])
    assert "did you mean model.auxiliary.dropout or model.head.dropout?" in err
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
    image = sorted((data / "images" / "val").iterdir())[0]
    err = error_of(capsys, ["predict", str(data / "images" / "val"), "--model", str(image), "--out", str(tmp_path / "p")])
    assert f"{image} is an image or video, not a model" in err


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
    from tiny import tiny_config

    from idrnet import build_model, save_checkpoint
    from idrnet.errors import InputError, UnknownNameError
    from idrnet.models.checkpoint import CONFIG_METADATA_KEY, read_metadata
    from idrnet.models.zoo import get_entry

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


def test_compare_names_two_final_checkpoints_apart():
    from idrnet.apis.load import distinct_names

    assert distinct_names("runs/fcn/final.safetensors", "runs/idr/final.safetensors") == ("fcn/final", "idr/final")
    assert distinct_names("a.safetensors", "b.safetensors") == ("a", "b")
    # the same file twice: the compare report printed "A A final: mIoU …"
    assert distinct_names("runs/final.safetensors", "runs/final.safetensors") == ("final #1", "final #2")


def test_compare_refuses_one_name_for_both_models(capsys):
    """--names X X labelled both models X in the report and gallery."""
    err = error_of(capsys, ["compare", "a.safetensors", "b.safetensors", "--data", "d", "--names", "X", "X"])
    assert "--names X X: the report and gallery tell the models apart by these names; give each its own" in err


def test_bench_ratio_of_unmeasurable_memory_is_not_printed():
    from idrnet.cli.bench import _ratio

    assert _ratio(1558.0, 0.0, floor=1.0).startswith("× n/a") and _ratio(30.0, 15.0, floor=1.0) == "×2.00"


def test_library_errors_name_parameters_and_the_command_line_names_flags(tmp_path, capsys):
    """The library says ``calibration_images=0``; the same mistake on the command line says the flag."""
    from idrnet.apis.calibration import calibration_files
    from idrnet.cli.main import as_flags

    with pytest.raises(ValueError, match="calibration_images=0: expected at least 1"):
        calibration_files(tmp_path, 0)
    assert as_flags("precision=int8 needs calibration images (calibration=DIR_OR_CONFIG)") == \
        "--precision int8 needs calibration images (--calibration DIR_OR_CONFIG)"
    assert as_flags("the limit of 10 (max_pixels=10); my_backend=x") == "the limit of 10 (--max-pixels 10); my_backend=x"
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    from tiny import tiny_config

    from idrnet import build_model, save_checkpoint

    model = save_checkpoint(build_model(tiny_config("fcn")), tmp_path / "m.safetensors")
    err = error_of(capsys, ["predict", str(image), "--model", str(model), "--out", str(tmp_path / "p"), "--max-pixels", "100"])
    assert "(--max-pixels 100)" in err and "max_pixels=" not in err


def test_a_model_argument_that_is_nothing_is_refused_before_any_work(tmp_path, capsys):
    from idrnet.serving.arm import load_arm

    with pytest.raises(KeyError, match="did you mean"):
        load_arm("A", "idrnet_fcn_resnet50os8_ade2k", checkpoint=True)
    with pytest.raises(FileNotFoundError, match="runs/x/final.safetensors: no such file"):
        load_arm("A", "runs/x/final.safetensors")
    err = error_of(capsys, ["bench", str(tmp_path / "missing.safetensors")])
    assert "missing.safetensors: no such file" in err


def test_a_dataset_folder_or_its_dataset_yaml_given_as_the_config_says_what_a_config_is(data, capsys):
    """`--data mydata/` reads naturally; it used to answer 'is a folder; expected a file' (compare,
    robustness, test, train) or 'classes: unknown key' for the dataset.yaml itself. The evaluations take
    the folder now (tests/test_evaluation.py); training needs a config."""
    err = error_of(capsys, ["train", str(data)])
    assert f"{data} is a dataset folder; expected a training config YAML" in err and "data: {root:" in err
    err = error_of(capsys, ["train", str(data / "dataset.yaml")])
    assert "is a dataset description (dataset.yaml), not a training config" in err


def test_test_and_compare_on_a_split_without_labels_say_so_in_one_line(tmp_path, data, capsys):
    """They listed every image as 'image without label' (robustness already said it in one line)."""
    import shutil

    copy = tmp_path / "d"
    shutil.copytree(data, copy)
    (copy / "images" / "test").mkdir()
    for image in sorted((copy / "images" / "val").iterdir()):
        shutil.copy(image, copy / "images" / "test" / image.name)
    config = write_config(tmp_path, copy)
    import idrnet
    from idrnet.engine.config import load_train_config

    model = tmp_path / "m.safetensors"
    idrnet.save_checkpoint(idrnet.create_model(load_train_config(config).model), model)
    for argv in (["test", str(config), "--checkpoint", str(model), "--split", "test"],
                 ["compare", str(model), str(model), "--data", str(config), "--split", "test", "--out", str(tmp_path / "c")]):
        err = error_of(capsys, argv)
        assert "split test has no labels" in err and "idrnet predict" in err and "image without label" not in err


def test_a_model_given_where_predict_and_test_do_not_take_it_is_named(tmp_path, data, capsys):
    """The other verbs take the model first; predict and test take it as a flag."""
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    err = error_of(capsys, ["predict", str(model), str(data / "images" / "val")])
    assert "required: --model" in err and "looks like a model: predict takes it as --model" in err
    folder = tmp_path / "shared"  # a model folder (save_pretrained's) and a zoo name are models too
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"x")
    for given in (str(folder), "idrnet_fcn_resnet50os8_ade20k"):
        err = error_of(capsys, ["predict", str(data / "images" / "val"), given])
        assert f"{given} looks like a model: predict takes it as --model" in err
    err = error_of(capsys, ["test", str(model)])
    assert "is a model; test takes the training config first and the model as --checkpoint" in err
    assert "required: --checkpoint" in error_of(capsys, ["test", str(write_config(tmp_path, data))])


def parse_error(capsys, argv: list[str]) -> str:
    """The last line of the usage error argparse stops on (exit 2)."""
    with pytest.raises(SystemExit) as stop:
        cli(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_an_unknown_flag_is_named_by_its_verb_with_the_flag_meant(capsys):
    """Was "idrnet: error: unrecognized arguments: --out" from the top-level parser, naming no verb, for the
    most natural slips: a misspelt flag and --out on the verbs that take their output as an argument."""
    err = parse_error(capsys, ["export", "m.safetensors", "--out", "m.onnx"])
    assert err.startswith("idrnet export: error: unrecognized arguments: --out")
    assert "takes what it writes as its OUTPUT argument, without a flag" in err
    err = parse_error(capsys, ["convert", "a.pth", "--output", "b.safetensors"])
    assert "idrnet convert: error" in err and "its DST argument, without a flag" in err
    err = parse_error(capsys, ["test", "train.yaml", "--chekpoint", "m.safetensors"])
    assert err == "idrnet test: error: unrecognized arguments: --chekpoint m.safetensors (did you mean --checkpoint?)"
    err = parse_error(capsys, ["data", "synth", "d", "--num-trian", "3"])
    assert err == "idrnet data synth: error: unrecognized arguments: --num-trian 3 (did you mean --num-train?)"
    assert parse_error(capsys, ["models", "--colour"]) == "idrnet models: error: unrecognized arguments: --colour"
    # errors raised while running are named by the action too ("idrnet data: error" before)
    assert error_of(capsys, ["data", "check", "nothere"]).startswith("idrnet data check: error: nothere is neither")


def test_flags_are_not_shortened_and_a_model_flag_says_where_the_model_goes(capsys):
    """argparse took `serve m --model other` as --model-b (a second arm, silently) and `--mod` as --mode; `test
    CONFIG --model M` suggested --mode (the inference mode)."""
    err = parse_error(capsys, ["serve", "a.safetensors", "--model", "b.safetensors"])
    assert err == ("idrnet serve: error: unrecognized arguments: --model b.safetensors (idrnet serve takes the model "
                   "as its MODEL argument, without a flag)")
    assert parse_error(capsys, ["test", "c.yaml", "--model", "m.safetensors"]).endswith("(idrnet test takes the model as --checkpoint)")
    assert "takes the model as its MODEL_A argument" in parse_error(capsys, ["compare", "--model", "a", "b", "--data", "d"])
    err = parse_error(capsys, ["predict", "x.png", "--mod", "m.safetensors"])
    assert err.endswith("(did you mean --model or --mode? flags are not shortened)")
    assert "(did you mean --overwrite? flags are not shortened)" in parse_error(capsys, ["predict", "x.png", "--over"])


def test_a_flag_given_twice_with_different_values_is_noted(tmp_path, capsys):
    """argparse keeps the last of a repeated flag silently: `predict --model a --model b` segmented with b
    alone, `robustness --corruptions fog --corruptions snow` ran snow alone; `--set seed=1 --set seed=2` used 2."""
    missing = str(tmp_path / "nothere.yaml")
    err = error_of(capsys, ["train", missing, "--work-dir", "runs/a", "--work-dir=runs/b", "--set", "seed=1",
                            "--set", "seed=2"])
    notes = [line for line in err.splitlines() if "warning" in line]
    assert notes == ["idrnet train: warning: --work-dir given twice (runs/a, then runs/b): only the last is used",
                     "idrnet train: warning: --set seed given twice (1, then 2): only the last is used"]
    err = error_of(capsys, ["train", missing, "--set", "seed=1", "--set", "iterations=5", "--set", "seed = 1"])
    assert "warning" not in err  # --set repeats; one key twice with one value changes nothing
    err = error_of(capsys, ["robustness", "m.safetensors", "--data", missing, "--out", "o", "--corruptions", "fog",
                            "frost", "--corruptions", "snow", "--severities", "3", "--severities", "3"])
    assert "warning: --corruptions given twice (fog frost, then snow): only the last is used" in err
    assert "--severities" not in err  # the same value twice changes nothing
    err = error_of(capsys, ["predict", "x.png", "--model", "a.safetensors", "--crop", "64", "64", "--crop", "32", "32",
                            "--model", "b.safetensors", "--model", "c.safetensors"])
    assert "warning: --model given 3 times (a.safetensors, then b.safetensors, then c.safetensors)" in err
    assert "warning: --crop given twice (64 64, then 32 32)" in err


def test_a_size_is_read_as_people_write_it():
    """`bench --size 48` was "expected HxW such as 512x512, got '48'"; 512*512 and 512×512 likewise."""
    from idrnet.cli.main import build_parser

    def size(text: str):
        return build_parser().parse_args(["bench", "m.safetensors", "--size", text]).size

    assert size("48") == (48, 48) and size("384x512") == (384, 512) and size("384X512") == (384, 512)
    assert size("384*512") == size("384×512") == size("384, 512") == (384, 512)
    assert build_parser().parse_args(["export", "m", "o.onnx", "--example-size", "96"]).example_size == (96, 96)


def test_data_synth_refuses_a_negative_seed_and_a_size_it_cannot_hold(tmp_path, capsys):
    """--seed -1 was an internal error from NumPy; --size 100000 asked OpenCV for 40 GB, then an internal error."""
    for flag, value, expected in (("--seed", "-1", "expected at least 0, got -1"),
                                  ("--size", "100000", "expected 16 to 4096, got 100000")):
        with pytest.raises(SystemExit) as stop:
            cli(["data", "synth", str(tmp_path / "d"), flag, value])
        assert stop.value.code == 2
        assert f"idrnet data synth: error: argument {flag}: {expected}" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_serve_takes_arm_b_second_as_compare_does(capsys):
    """`idrnet serve A B` was 'unrecognized arguments: B'; it is arm B, like --model-b."""
    assert "two models need --split FRACTION" in error_of(capsys, ["serve", "a.safetensors", "b.safetensors"])
    err = error_of(capsys, ["serve", "a.safetensors", "b.safetensors", "--model-b", "c.safetensors", "--shadow"])
    assert "arm B given twice (b.safetensors and --model-b c.safetensors)" in err


def test_models_filters_by_words_in_any_case_and_names_the_closest_when_none_match(capsys):
    assert cli(["models", "UperNet", "ADE20K"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows and all("upernet" in r and "ade20k" in r for r in rows)
    err = error_of(capsys, ["models", "uppernet", "ade20k"])  # printed an empty table with exit 0
    assert "no zoo model name contains 'uppernet' and 'ade20k'; closest words: 'uppernet' → upernet" in err
    err = error_of(capsys, ["models", "upernet", "swin", "voc"])
    assert "none has all; with 2 of the 3: idrnet_upernet_swinlarge_ade20k," in err
    # a wildcard pattern, as list_models takes (was "no zoo model name contains '*upernet*swin*'")
    assert cli(["models", "*UperNet*swin*"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows and all(r.startswith("idrnet_upernet_swinlarge_") for r in rows)
    # words given quoted as one argument ("upernet swin": an error naming the closest word 'upernet')
    assert cli(["models", "upernet swin"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("idrnet_upernet_swinlarge_")


def test_the_papers_words_for_idrnets_heads_find_the_zoos_names(capsys):
    """The zoo names IDRNet's PSPNet and DeepLabV3 versions by their context module (idrnet_ppm,
    idrnet_aspp, as the official configs do): asked for idrnet_pspnet_..., it suggested idrnet_ocrnet_...,
    and `idrnet models idrnet pspnet` found nothing."""
    from idrnet.models.zoo import get_entry

    with pytest.raises(KeyError, match=r"did you mean idrnet_ppm_resnet50os8_ade20k,"):
        get_entry("idrnet_pspnet_resnet50os8_ade20k")
    with pytest.raises(KeyError, match=r"did you mean idrnet_aspp_resnet50os8_cityscapes,"):
        get_entry("idrnet_deeplabv3_r50_cityscapes")
    assert cli(["models", "idrnet", "PSPNet"]) == 0
    rows = [r.split()[0] for r in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [f"idrnet_ppm_resnet50os8_{d}" for d in ("ade20k", "cityscapes", "cocostuff10k", "lip")]
    assert cli(["models", "upernet_r50", "ade"]) == 0
    rows = [r.split()[0] for r in capsys.readouterr().out.splitlines()[1:]]
    assert rows == ["idrnet_upernet_resnet50os8_ade20k", "upernet_resnet50os8_ade20k"]


def test_a_tta_scale_given_twice_runs_once():
    import argparse

    from idrnet.cli.common import add_tta_arguments, inference_from_args
    from idrnet.models.config import InferenceConfig

    parser = argparse.ArgumentParser()
    add_tta_arguments(parser)
    _, tta = inference_from_args(parser.parse_args(["--scales", "1", "0.5", "1", "0.5"]), InferenceConfig())
    assert tta.scales == (1.0, 0.5)


def test_a_tta_scale_far_above_the_protocols_is_noted(capsys):
    """--scales 0.5 100 (for 1.00) ran a 512² image at 51200² for minutes with no word."""
    import argparse

    from idrnet.cli.common import add_tta_arguments, inference_from_args
    from idrnet.models.config import InferenceConfig

    parser = argparse.ArgumentParser()
    add_tta_arguments(parser)
    _, tta = inference_from_args(parser.parse_args(["--scales", "0.5", "100"]), InferenceConfig())
    assert tta.scales == (0.5, 100.0)  # a note, not a refusal: any cap would be arbitrary
    assert "note: --scales 100 multiplies each image's height and width" in capsys.readouterr().out
    inference_from_args(parser.parse_args(["--scales", "0.5", "1.75"]), InferenceConfig())
    assert capsys.readouterr().out == ""


def test_a_dataset_without_a_val_split_says_how_to_make_one(tmp_path, capsys):
    """Many users' own data has only train/: training stopped at "no images/val folder" with no next step."""
    from runs import make_dataset

    root = make_dataset(tmp_path / "only_train")
    for kind in ("images", "masks"):
        shutil.rmtree(root / kind / "val")
    config = write_config(tmp_path, root)
    err = error_of(capsys, ["train", str(config)])
    assert "the splits here: train" in err and "Training validates on data.val_split ('val')" in err
    assert "--set data.val_split=NAME" in err and not (tmp_path / "run").exists()


def test_a_relative_data_root_written_for_the_configs_folder_is_named(tmp_path, capsys, monkeypatch):
    """data.root is read from the current folder: a config whose dataset sits beside it, run from elsewhere,
    read '<cwd>/ds/dataset.yaml does not exist' (as if the dataset lacked its description)."""
    import yaml
    from runs import make_dataset

    project = tmp_path / "project"
    make_dataset(project / "ds")
    config = write_config(project, project / "ds")
    spec = yaml.safe_load(config.read_text())
    spec["data"]["root"] = "ds"
    config.write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(tmp_path)
    err = error_of(capsys, ["train", str(config)])
    assert "data.root ds: no such folder here" in err and f"write data.root: {project / 'ds'}" in err
    monkeypatch.chdir(project)  # run from the config's folder, it is found
    from idrnet.engine.config import load_train_config

    assert load_train_config(config).data.root == "ds"
    spec["data"]["root"] = "elsewhere"  # missing everywhere: named as a missing folder, not a missing dataset.yaml
    config.write_text(yaml.safe_dump(spec))
    assert cli(["data", "check", str(config)]) == 1
    assert "dataset folder elsewhere does not exist (relative paths are read from" in capsys.readouterr().out


def test_a_folder_flag_given_a_file_name_is_refused(tmp_path, data, capsys):
    """`predict photo.jpg --out mask.png` made a folder named mask.png holding photo.png and its overlay
    (compare, relations, robustness --out and test --save-predictions likewise): such a name is refused,
    before anything is read; an existing folder of that name, or a name with a dot of its own, is a folder."""
    import idrnet
    from tiny import tiny_config

    model = str(idrnet.save_checkpoint(idrnet.build_model(tiny_config("idrnet", num_classes=11)),
                                       tmp_path / "m.safetensors"))
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(image)
    cases = [(["predict", str(image), "--model", model], "--out", "mask.png"),
             (["compare", model, model, "--data", str(data)], "--out", "cmp.json"),
             (["relations", model], "--out", "heat.png"),
             (["robustness", model, "--data", str(data)], "--out", "report.json"),
             (["test", str(data), "--checkpoint", model], "--save-predictions", "preds.PNG")]
    for argv, flag, name in cases:
        err = error_of(capsys, [*argv, flag, str(tmp_path / name)])
        assert f"{flag} {tmp_path / name} looks like a file name, but {flag} names a folder" in err, err
        assert not (tmp_path / name).exists()
    (tmp_path / "old.png").mkdir()  # a folder already named so is taken as the folder it is
    for folder in ("old.png", "results.v2"):
        assert cli(["predict", str(image), "--model", model, "--out", str(tmp_path / folder)]) == 0
        assert (tmp_path / folder / "x.png").is_file()


def test_running_out_of_memory_is_one_line_saying_what_to_lower(monkeypatch, capsys):
    """`bench --size 99999x99999`, a batch too big for the GPU, or a crop too big for the CPU ended in
    "internal error … This is a bug in idrnet" with a traceback: running out of memory is the machine's
    limit, said in one line with the size asked for and what to make smaller, per verb."""
    import torch

    from idrnet.cli import bench, train
    from idrnet.errors import out_of_memory

    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 119997600012 bytes. Error code 12 (Cannot allocate memory)")
    cuda = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
                                  "79.11 GiB of which 1.2 GiB is free.")
    numpy = MemoryError("Unable to allocate 112. GiB for an array with shape (99999, 99999, 3) and data type float32")
    wrapped = RuntimeError("failed")
    wrapped.__cause__ = cuda

    class RuntimeException(Exception):  # ONNX Runtime's own exception type, not a RuntimeError
        pass

    ort = RuntimeException("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running "
                           "Conv node. Name:'/conv' Status Message: Failed to allocate memory for requested buffer of "
                           "size 4294967296")
    assert [out_of_memory(e) for e in (cpu, cuda, numpy, wrapped, ort, RuntimeError("bad shape"))] == \
        ["111.8 GiB", "2.00 GiB", "112. GiB", "2.00 GiB", "4.0 GiB", None]
    for module, argv, said in ((bench, ["bench", "x.safetensors"], "lower --size or --batch"),
                               (train, ["train", "x.yaml"], "set max_batch_per_process")):
        def fail(args, error=cpu if module is bench else cuda):
            raise error

        monkeypatch.setattr(module, "run", fail)
        assert cli(argv) == 1
        err = capsys.readouterr().err
        assert "out of memory (an allocation of" in err and said in err, err
        assert "Traceback" not in err and "internal error" not in err and len(err.strip().splitlines()) == 1


def test_benchmark_names_written_otherwise_are_answered_with_the_name(tmp_path, data, capsys):
    """`data: {type: ADE20K}` failed only when the datasets were built, without the file or key; a data check
    YAML written like a training config's data section (`type: ade20k`) was refused, and one whose root is
    missing listed every split's folders as missing instead of saying so."""
    config = write_config(tmp_path, data, "bench.yaml")
    err = error_of(capsys, ["train", str(config), "--set", "data.type=ADE20K"])
    assert "bench.yaml: data.type: unknown dataset 'ADE20K' (did you mean ade20k?)" in err
    assert "(did you mean custom?)" in error_of(capsys, ["train", str(config), "--set", "data.type=costum"])
    check = tmp_path / "check.yaml"
    check.write_text("dataset: cityscape\nroot: ade\n")
    assert "check.yaml: unknown dataset 'cityscape' (did you mean cityscapes?)" in error_of(capsys, ["data", "check", str(check)])
    check.write_text("type: ade20k\nroot: ade\n")
    assert f"check.yaml: root {tmp_path / 'ade'} does not exist; expected the ade20k download" in \
        error_of(capsys, ["data", "check", str(check)])
    (tmp_path / "ade").mkdir()
    assert cli(["data", "check", str(check)]) == 1  # read as the benchmark: its folders are missing, split by split
    assert "expected folder" in capsys.readouterr().out
