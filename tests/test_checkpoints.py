"""Loading official checkpoints, our safetensors format, `idrnet convert`, downloads."""

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

import idrnet
from idrnet.cli.main import main as cli
from idrnet.config import to_dict
from idrnet.errors import InputError
from idrnet.models import download
from idrnet.models.checkpoint import CheckpointError

FIXTURE = Path(__file__).parent / "fixtures" / "reference" / "idrnet_aspp_after_r18.safetensors"


def official_checkpoint(tmp_path):
    """An official-format checkpoint ({'model': state_dict, ...}) and the YAML config of its model."""
    tensors = load_file(str(FIXTURE))
    tensors["images"] = (tensors["images_u8"].float() - 127.5) / 64.0
    state = {k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")}
    path = tmp_path / "tiny_official.pth"
    torch.save({"model": state, "optimizer": {}, "cur_epoch": 3, "cur_iter": 10}, path)
    with safe_open(str(FIXTURE), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return path, config_path, tensors


def test_official_checkpoint_loads_and_matches_reference_logits(tmp_path):
    path, config_path, tensors = official_checkpoint(tmp_path)
    model = idrnet.create_model(str(config_path), checkpoint=str(path))
    assert not model.training
    with torch.no_grad():
        torch.testing.assert_close(model.forward_logits(tensors["images"]), tensors["eval_logits"], rtol=1e-4, atol=1e-5)


def test_missing_and_unexpected_tensors_are_listed(tmp_path):
    path, config_path, _ = official_checkpoint(tmp_path)
    raw = torch.load(path, weights_only=True)
    raw["model"].pop("bottleneck.0.weight")
    raw["model"]["extra_head.weight"] = torch.zeros(1)
    torch.save(raw, path)
    with pytest.raises(CheckpointError) as err:
        idrnet.create_model(str(config_path), checkpoint=str(path))
    message = str(err.value)
    assert "decode_head.bottleneck.0.weight" in message and "missing" in message
    assert "decode_head.extra_head.weight" in message and "unexpected" in message


def test_pickled_objects_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("unpickled!",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    _, config_path, _ = official_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="refused: the file holds Python objects besides tensors"):
        idrnet.create_model(str(config_path), checkpoint=str(path))


@pytest.mark.parametrize("content, said", [
    (b"", "the file is empty"),
    (b"<!DOCTYPE html><html><head>", "an HTML or XML page (a download that returned a web page"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:0\n", "a Git LFS pointer"),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), "a PNG image"),
    (bytes(range(7, 107)), "neither a zip archive nor a pickle"),
    (b"model:\n  num_classes: 11\n", "a text file (a config or a note?)"),
], ids=["empty", "html", "lfs", "png", "random", "text"])
def test_files_that_are_not_checkpoints_are_named_as_what_they_are(tmp_path, capsys, content, said):
    """torch.load's weights-only error for any non-pickle ("Weights only load failed") read as our
    "holds Python objects besides tensors": a web page saved by a wrong download link was called unsafe."""
    _, config_path, _ = official_checkpoint(tmp_path)
    path = tmp_path / "download.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint") as err:
        idrnet.create_model(str(config_path), checkpoint=str(path))
    assert said in str(err.value) and "Python objects" not in str(err.value)
    named = tmp_path / "download.safetensors"
    named.write_bytes(content)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    assert cli(["predict", str(photo), "--model", str(named), "--out", str(tmp_path / "p")]) == 2
    if said != "neither a zip archive nor a pickle":
        assert said in capsys.readouterr().err
    cut = tmp_path / "cut.pth"
    torch.save({"w": torch.zeros(1000)}, cut)
    cut.write_bytes(cut.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        idrnet.create_model(str(config_path), checkpoint=str(cut))
    torch.save({"w": torch.zeros(3)}, named)
    with pytest.raises(CheckpointError, match="a PyTorch checkpoint .torch.save. named .safetensors: rename it"):
        idrnet.create_model(str(named))


def test_a_training_state_given_as_the_model_names_the_runs_model_files(tmp_path, capsys):
    """predict --model run/latest.pt said 'holds weights but no model config … give this file as its
    checkpoint'; it is a training state: the run's .safetensors files, or convert, are the way."""
    from tiny import tiny_config

    state = tmp_path / "latest.pt"
    model = idrnet.build_model(tiny_config("fcn"))
    torch.save({"model": model.state_dict(), "optimizer": {}, "iteration": 3, "config": "{}"}, state)
    with pytest.raises(InputError, match=r"is a training state of idrnet train.*best.safetensors or final.safetensors.*idrnet convert"):
        idrnet.create_model(str(state))
    plain = tmp_path / "weights.pth"
    torch.save(model.state_dict(), plain)
    with pytest.raises(InputError, match="holds weights but no model config"):
        idrnet.create_model(str(plain))
    # weights without a config in a .safetensors file (another tool's) say the same, not "not a PyTorch checkpoint"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "weights.safetensors"))
    with pytest.raises(InputError, match="holds weights but no model config"):
        idrnet.create_model(str(tmp_path / "weights.safetensors"))


def test_convert_cli_round_trip(tmp_path, capsys):
    path, config_path, tensors = official_checkpoint(tmp_path)
    out = tmp_path / "tiny.safetensors"
    assert cli(["convert", str(path), str(out), "--config", str(config_path)]) == 0
    model = idrnet.create_model(str(out))  # config travels inside the file
    with torch.no_grad():
        torch.testing.assert_close(model.forward_logits(tensors["images"]), tensors["eval_logits"], rtol=1e-4, atol=1e-5)
    # and a safetensors file saved from a model loads strictly again
    again = tmp_path / "again.safetensors"
    idrnet.save_checkpoint(model, again)
    assert torch.equal(load_file(str(again))["decode_head.class_relations_mean"],
                       model.decode_head.class_relations_mean)
    # converting an idrnet file again (final.safetensors of a run, say) says there is nothing to do
    capsys.readouterr()
    assert cli(["convert", str(again), str(tmp_path / "twice.safetensors")]) == 2
    assert "already an idrnet model file" in capsys.readouterr().err and not (tmp_path / "twice.safetensors").exists()


def test_convert_cli_errors_name_the_problem(tmp_path, capsys):
    assert cli(["convert", str(tmp_path / "idrnet_nonexistent_model.pth"), str(tmp_path / "x.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    torch.save({"model": {}}, tmp_path / "idrnet_nonexistent_model.pth")
    assert cli(["convert", str(tmp_path / "idrnet_nonexistent_model.pth"), str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'idrnet_nonexistent_model'" in err and "--config" in err
    path, config_path, _ = official_checkpoint(tmp_path)
    assert cli(["convert", str(path), str(tmp_path / "x.bin"), "--config", str(config_path)]) == 2
    assert ".safetensors" in capsys.readouterr().err
    # Not a checkpoint at all: said first, not "cannot tell which model" (which sent people to --config)
    (tmp_path / "download.pth").write_bytes(b"")
    assert cli(["convert", str(tmp_path / "download.pth"), str(tmp_path / "y.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "download.pth is not a checkpoint: the file is empty" in err and "cannot tell" not in err
    assert cli(["convert", str(config_path), str(tmp_path / "y.safetensors")]) == 2
    assert "is not a checkpoint: it is a text file" in capsys.readouterr().err
    # A cut download under a name of its own: "truncated", not "cannot tell which model" (said only once
    # --config was given, before)
    whole = (tmp_path / "idrnet_nonexistent_model.pth").read_bytes()
    (tmp_path / "mine.pth").write_bytes(whole[: len(whole) // 2])
    assert cli(["convert", str(tmp_path / "mine.pth"), str(tmp_path / "y.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "mine.pth" in err and "truncated or damaged" in err and "cannot tell" not in err
    assert not (tmp_path / "y.safetensors").exists()


def test_zoo_name_with_official_checkpoint_file(tmp_path):
    """The real path: an official file for a zoo model (built with random weights in the official key
    names, as the reference would save it)."""
    name = "fcn_resnet50os8_cityscapes"
    model = idrnet.create_model(name)
    state = {}
    for key, value in model.state_dict().items():
        key = key.replace("decode_head.", "").replace("auxiliary_head.", "auxiliary_decoder.")
        key = key.replace("backbone.body.conv1.", "backbone_net.stem.").replace("backbone.body.bn1.", "backbone_net.stem.7.")
        key = key.replace("backbone.body.", "backbone_net.")
        state[key] = value
    path = tmp_path / f"{name}.pth"
    torch.save({"model": state}, path)
    out = tmp_path / "fcn.safetensors"
    assert cli(["convert", str(path), str(out)]) == 0  # NAME from the file stem
    loaded = idrnet.create_model(str(out))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_parameter_counts_equal_official_for_every_published_config():
    checked = 0
    for name in idrnet.list_models():
        entry = idrnet.get_entry(name)
        if entry.params_total is None:
            continue
        with torch.device("meta"):
            model = idrnet.build_model(entry.config)
        assert idrnet.count_parameters(model) == entry.params_total, name
        checked += 1
    assert checked == 43  # 20 IDRNet, 8 baselines, 15 OCRNet


def test_zoo_configs_round_trip_through_yaml(tmp_path):
    from idrnet.models.config_io import load_model_config, save_model_config

    for name in idrnet.list_models():
        cfg = idrnet.get_entry(name).config
        save_model_config(cfg, tmp_path / "c.yaml")
        assert to_dict(load_model_config(tmp_path / "c.yaml")) == to_dict(cfg)


def test_unknown_zoo_name_suggests_close_ones():
    with pytest.raises(KeyError, match="idrnet_upernet_resnet50os8_ade20k"):
        idrnet.create_model("idrnet_upernet_resnet50_ade20k")


def test_official_weights_by_the_command_lines_word_and_timms(monkeypatch):
    """create_model(name, checkpoint="official") (the CLI's word) looked for a file called official, and
    timm's pretrained=True was an unexpected keyword; both now fetch the zoo entry's published weights."""
    from idrnet.models.zoo import get_entry

    name = "idrnet_fcn_resnet50os8_ade20k"
    asked = []

    def fetch(url, sha256=None):
        asked.append(url)
        raise InputError("offline in this test")

    monkeypatch.setattr("idrnet.apis.create.fetch", fetch)
    for options in ({"checkpoint": "official"}, {"pretrained": True}, {"pretrained": True, "checkpoint": True}):
        with pytest.raises(InputError, match="offline in this test"):
            idrnet.create_model(name, **options)
    with pytest.raises(InputError, match="offline in this test"):
        idrnet.Predictor(name, "official")
    assert asked == [get_entry(name).checkpoint_url] * 4
    with pytest.raises(InputError, match="pretrained=True and checkpoint='mine.pth' both give the weights"):
        idrnet.create_model(name, checkpoint="mine.pth", pretrained=True)


def test_fetch_downloads_once_verifies_and_respects_offline(tmp_path, monkeypatch):
    payload = tmp_path / "source.bin"
    payload.write_bytes(b"weights" * 100)
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    calls = []

    def fake_download(url, dst, progress=True):
        calls.append(url)
        Path(dst).write_bytes(payload.read_bytes())

    monkeypatch.setattr("torch.hub.download_url_to_file", fake_download)
    monkeypatch.setenv("IDRNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("IDRNET_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    url = "https://example.invalid/models/model.bin"
    first = download.fetch(url, digest)
    second = download.fetch(url, digest)
    assert first == second and first.read_bytes() == payload.read_bytes() and len(calls) == 1
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        download.fetch("https://example.invalid/models/other.bin", "0" * 64)
    assert not (tmp_path / "cache" / "checkpoints" / "other.bin").exists()
    monkeypatch.setenv("IDRNET_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="offline"):
        download.fetch("https://example.invalid/models/missing.bin")
    # the hash prefix in open-mmlab/torchvision style file names is checked too
    monkeypatch.setenv("IDRNET_OFFLINE", "0")
    assert download.fetch(f"https://example.invalid/resnet50_v1c-{digest[:8]}.pth").is_file()
    with pytest.raises(RuntimeError, match="checksum"):
        download.fetch("https://example.invalid/resnet50_v1c-deadbeef.pth")


def test_load_gives_the_model_with_its_data_description_and_reads_a_file_once(tmp_path, monkeypatch):
    from idrnet.apis import create as create_module
    from idrnet.apis.load import load, stored_description
    from idrnet.data.description import DataDescription
    from tiny import tiny_config

    meta = DataDescription(tuple(f"c{i}" for i in range(5)), tuple((i, i, i) for i in range(5)), 255, (), (64, 32), True)
    path = idrnet.save_checkpoint(idrnet.build_model(tiny_config("fcn")).eval(), tmp_path / "m.safetensors",
                                  data_description=meta.to_json())
    reads = []
    original = create_module.read_checkpoint
    monkeypatch.setattr(create_module, "read_checkpoint", lambda p: reads.append(p) or original(p))
    loaded = load(str(path))
    assert len(reads) == 1 and loaded.description == meta and not loaded.model.training
    assert load(tiny_config("fcn")).description is None  # a config alone comes with no description
    assert stored_description("idrnet_fcn_resnet50os8_ade20k").classes[0] == "wall"  # a zoo name: its dataset's (ADE20K)


def test_a_model_loaded_and_saved_again_keeps_its_class_names(tmp_path):
    """`model = idrnet.create_model("run/final.safetensors")` then `model.save_pretrained(...)`,
    `save_checkpoint(model, ...)` or `export_onnx(model, ...)` wrote files without the class names, colours
    and test-time resize stored with the weights (the model card said "class 0", predict drew "class_3",
    test asked for data.test_scale); saving over the loaded file itself lost them for good. The description
    stays with the loaded model (model.data_description) and is saved again; a model given other classes
    (num_classes) does not carry the old names."""
    from idrnet.apis.load import load
    from idrnet.data.description import DataDescription
    from idrnet.models.checkpoint import DATA_METADATA_KEY, read_metadata
    from tiny import tiny_config

    meta = DataDescription(tuple(f"c{i}" for i in range(5)), tuple((i, 9, i) for i in range(5)), 255, (), (64, 32), True)
    path = idrnet.save_checkpoint(idrnet.build_model(tiny_config("fcn", num_classes=5)).eval(), tmp_path / "m.safetensors",
                                  data_description=meta)
    model = idrnet.create_model(str(path))
    again = idrnet.save_checkpoint(model, tmp_path / "again.safetensors")
    assert read_metadata(again)[DATA_METADATA_KEY] == read_metadata(path)[DATA_METADATA_KEY]
    assert load(model).description == meta and idrnet.Predictor(model).class_names == meta.classes
    folder = model.save_pretrained(tmp_path / "shared")
    assert "c4" in (folder / "README.md").read_text() and load(str(folder)).description == meta
    graph = idrnet.export_onnx(model, tmp_path / "m.onnx", example_size=(64, 64), check_sizes=())
    assert load(str(graph)).description == meta
    other = idrnet.create_model(str(path), num_classes=3)
    assert DATA_METADATA_KEY not in read_metadata(idrnet.save_checkpoint(other, tmp_path / "other.safetensors"))
    given = DataDescription(("x", "y", "z"), ((1, 1, 1), (2, 2, 2), (3, 3, 3)), 255, (), (64, 32), True)
    assert load(str(idrnet.save_checkpoint(other, tmp_path / "given.safetensors", data_description=given))).description == given


@pytest.mark.parametrize("bad", [0, -3, "5", 2.5, True])
def test_create_model_refuses_a_num_classes_that_is_not_a_positive_integer(bad):
    with pytest.raises(InputError, match="num_classes"):
        idrnet.create_model("fcn_resnet50os8_cityscapes", num_classes=bad)


def test_create_model_takes_a_config_dict_and_names_nothing_and_a_missing_suffix(tmp_path):
    """A dict (what a model YAML holds) was "unknown model \"{'num_classes': 3}\""; None was "unknown model
    'None'"; "" was "is a folder" (Path("") is the current one); a path given without .safetensors was
    "no such file" with the file beside it."""
    from tiny import tiny_config

    from idrnet.config import to_dict

    data = to_dict(tiny_config("fcn"))
    model = idrnet.create_model(data)
    assert isinstance(model, idrnet.Segmentor) and model.num_classes == tiny_config("fcn").num_classes
    with pytest.raises(InputError, match="the model config dict: bakbone: unknown key; did you mean 'backbone'"):
        idrnet.create_model({**data, "bakbone": data["backbone"]})
    for nothing in (None, "", " "):
        with pytest.raises(InputError, match="model: expected a zoo name, a .safetensors, .onnx or model YAML file"):
            idrnet.create_model(nothing)
    idrnet.save_checkpoint(model, tmp_path / "mine.safetensors")
    with pytest.raises(FileNotFoundError, match=r"mine: no such file \(did you mean .*mine.safetensors\?\)"):
        idrnet.create_model(str(tmp_path / "mine"))


def test_save_checkpoint_and_export_onnx_write_only_the_suffix_their_readers_know(tmp_path):
    """save_checkpoint(model, "x.pth") wrote safetensors bytes under a PyTorch name (read back as a broken
    PyTorch file); a folder was "Is a directory: '…tmp' -> 'ds'"; export_onnx wrote an ONNX graph as x.pt."""
    from tiny import tiny_config

    model = idrnet.create_model(tiny_config("fcn"))
    with pytest.raises(InputError, match=r"x.pth: save_checkpoint writes a .safetensors file; name it x.safetensors"):
        idrnet.save_checkpoint(model, tmp_path / "x.pth")
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder; save_checkpoint writes a .safetensors file"):
        idrnet.save_checkpoint(model, tmp_path / "d.safetensors")
    with pytest.raises(InputError, match=r"x.pt: export_onnx writes an .onnx file; name it x.onnx"):
        idrnet.export_onnx(model, tmp_path / "x.pt", (32, 32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.safetensors"]


def test_build_model_and_list_models_take_what_people_pass():
    """build_model(dict) or build_model(zoo name) were AttributeErrors ('dict' object has no attribute
    'num_classes'); list_models took no wildcard pattern (timm's list_models('*resnet*') does)."""
    from tiny import tiny_config

    from idrnet.config import to_dict

    model = idrnet.build_model(to_dict(tiny_config("fcn")))
    assert isinstance(model, idrnet.Segmentor)
    with pytest.raises(InputError, match="build_model builds from a ModelConfig; got str .*use idrnet.create_model"):
        idrnet.build_model("fcn_resnet50os8_cityscapes")
    swin = idrnet.list_models("*upernet*swin*")
    assert swin and all("upernet" in n and "swin" in n for n in swin)
    assert idrnet.list_models("ocrnet") == sorted(n for n in idrnet.MODEL_ZOO if n.startswith("ocrnet"))
    with pytest.raises(InputError, match="list_models: expected a name prefix or a pattern"):
        idrnet.list_models(123)
