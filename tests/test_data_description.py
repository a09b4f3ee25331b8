"""The dataset owns its description: classes, ignore label; models take them from it."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml
from runs import error_of, make_dataset, write_config

from idrnet.config import ConfigError
from idrnet.engine.config import load_train_config
from idrnet.engine.trainer import Trainer


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
    from idrnet.models.checkpoint import (
        DATA_METADATA_KEY,
        read_checkpoint,
        read_metadata,
    )

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


def test_an_explicit_ignore_label_that_differs_is_an_error_even_if_it_is_the_default(tmp_path):
    """Writing 255 for data whose ignore label is 254 used to be replaced silently (255 was the default)."""
    data = make_dataset(tmp_path / "d", ignore_index=254, label_map={255: 254})
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        Trainer(load_train_config(path, ["model.ignore_index=255"]))
    message = str(info.value)
    assert "model.ignore_index is 255" in message and "254" in message and str(data / "dataset.yaml") in message


def test_the_number_of_classes_comes_from_the_dataset(tmp_path, capsys):
    from idrnet.models.checkpoint import CONFIG_METADATA_KEY, DATA_METADATA_KEY, read_checkpoint, read_metadata

    data = make_dataset(tmp_path / "d", ignore_index=254, label_map={255: 254})
    path = write_config(tmp_path, data)
    model = yaml.safe_load(path.read_text())["model"]
    del model["num_classes"]
    unset = write_config(tmp_path, data, "unset.yaml", model=model)
    Trainer(load_train_config(unset)).run()
    final = tmp_path / "run" / "final.safetensors"
    # the documented evaluation of a run: its saved config (num_classes still unset) and its weights; it
    # said "num_classes is not set"
    from idrnet.cli.main import main as cli

    assert cli(["test", str(tmp_path / "run" / "config.yaml"), "--checkpoint", str(final),
                "--out", str(tmp_path / "unset.json")]) == 0
    import idrnet  # and in Python: the weights record the classes the config leaves out

    assert idrnet.create_model(str(tmp_path / "run" / "config.yaml"), checkpoint=str(final)).num_classes == 11
    config = read_checkpoint(final)[1]
    assert config.num_classes == 11 and config.ignore_index == 254
    # stored once: in the data description, not again in the model config
    stored = read_metadata(final)
    assert "ignore_index" not in json.loads(stored[CONFIG_METADATA_KEY])
    assert json.loads(stored[DATA_METADATA_KEY])["ignore_index"] == 254
    with pytest.raises(ConfigError) as info:
        Trainer(load_train_config(unset, ["model.num_classes=5", f"work_dir={tmp_path / 'other'}"]))
    assert "model.num_classes is 5" in str(info.value) and "11 classes" in str(info.value)
    assert str(data / "dataset.yaml") in str(info.value)
    # a zoo name is an architecture: on this data it gets the dataset's classes (it was an error)
    zoo_config = load_train_config(unset, ["model=idrnet_fcn_resnet50os8_ade20k", f"work_dir={tmp_path / 'zoo'}",
                                           "pretrained_backbone=false", "iterations=2"])
    zoo = Trainer(zoo_config)
    assert zoo.model.num_classes == 11
    assert "published for 150 classes; it is built for the 11 of" in capsys.readouterr().out
    zoo.run(max_iterations=1)
    del zoo
    Trainer(zoo_config, resume="auto").run()  # said once, when the run started: not again on each resume
    assert "published for" not in capsys.readouterr().out


def test_a_model_without_data_needs_its_number_of_classes_and_uses_the_usual_ignore_label():
    from tiny import tiny_config

    from idrnet import ModelConfig, build_model
    from idrnet.data.description import IGNORE_INDEX
    from idrnet.errors import InputError

    with pytest.raises(InputError, match="num_classes is not set"):
        build_model(ModelConfig())
    assert build_model(tiny_config("fcn")).ignore_index == IGNORE_INDEX == 255


def test_files_store_the_ignore_label_once_and_older_files_still_load(tmp_path):
    from safetensors.torch import load_file, save_file
    from tiny import tiny_config

    from idrnet import build_model, save_checkpoint
    from idrnet.config import to_dict
    from idrnet.data.description import DataDescription, generic_description
    from idrnet.errors import InputError
    from idrnet.models.checkpoint import CONFIG_METADATA_KEY, DATA_METADATA_KEY, read_checkpoint, read_metadata

    description = DataDescription(generic_description(5).classes, generic_description(5).palette, ignore_index=7)
    model = build_model(dataclasses.replace(tiny_config("fcn"), ignore_index=255))
    with pytest.raises(InputError, match="ignore label 255 but the data description given with it has 7"):
        save_checkpoint(model, tmp_path / "contradicts.safetensors", data_description=description)
    assert not (tmp_path / "contradicts.safetensors").exists()
    model.config.ignore_index = None  # unset: the description's applies
    path = save_checkpoint(model, tmp_path / "m.safetensors", data_description=description)
    assert read_checkpoint(path)[1].ignore_index == 7
    # a file of idrnet 0.1: the ignore label in both places; the deprecated keyword still works
    old = tmp_path / "old.safetensors"
    record = {**to_dict(model.config), "ignore_index": 7}
    save_file(load_file(str(path)), str(old), metadata={CONFIG_METADATA_KEY: json.dumps(record),
                                                        DATA_METADATA_KEY: description.to_json()})
    assert read_checkpoint(old)[1].ignore_index == 7
    with pytest.deprecated_call():
        again = save_checkpoint(model, tmp_path / "again.safetensors", data_meta=description.to_json())
    with pytest.deprecated_call():
        from idrnet.data.description import DataMeta
    assert DataMeta is DataDescription
    with pytest.deprecated_call():
        from idrnet.data.meta import DataMeta as OldPlace  # the module of idrnet 0.1
    assert OldPlace is DataDescription
    assert json.loads(read_metadata(again)[DATA_METADATA_KEY])["ignore_index"] == 7


def test_an_onnx_file_takes_its_ignore_label_from_its_description(tmp_path):
    pytest.importorskip("onnxruntime")
    from tiny import tiny_config

    from idrnet import build_model, export_onnx
    from idrnet.data.description import DataDescription, generic_description
    from idrnet.deploy.onnx_model import OnnxSegmentor

    g = generic_description(5)
    model = build_model(tiny_config("fcn"))
    model.config.ignore_index = None
    path = export_onnx(model, tmp_path / "m.onnx", (64, 64), data_description=DataDescription(g.classes, g.palette, 3))
    assert OnnxSegmentor(path, "cpu").ignore_index == 3
