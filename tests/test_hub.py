"""Sharing models the Hugging Face way, offline: model folders, the Hub client's own cache (populated
here, no network), hf-hub: names in the API and the CLI, and push_to_hub against a stand-in HfApi
(the client has no dry-run for uploads; the stand-in records what would be sent)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

import idrnet
from idrnet.errors import InputError
from tiny import tiny_config

smp = pytest.importorskip("segmentation_models_pytorch")
SMALL = {"feats_channels": 16, "transform_channels": 8}


def _same_logits(a, b, size=64):
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(a.eval().forward_scores(x), b.eval().forward_scores(x), rtol=0, atol=0)


def test_our_model_round_trips_through_a_folder_with_its_card(tmp_path):
    from idrnet.data.description import DataDescription

    model = idrnet.build_model(tiny_config("idrnet", num_classes=3)).eval()
    description = DataDescription(("sky", "road", "car"), ((0, 0, 255), (128, 128, 128), (255, 0, 0)))
    folder = model.save_pretrained(tmp_path / "m", description, metrics={"mIoU": 0.5, "aAcc": 0.9})
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: image-segmentation" in card and "0: sky" in card and "| mIoU | 50.00 |" in card
    _same_logits(model, idrnet.from_pretrained(folder))
    assert idrnet.Predictor(str(folder / "model.safetensors")).class_names == ("sky", "road", "car")
    with pytest.raises(InputError, match="already holds a model"):
        model.save_pretrained(folder)


def test_hub_name_slips_are_named(tmp_path, monkeypatch):
    """'hf-hub:' alone loaded the current folder's model.safetensors; hf_hub:user/repo read 'no such file';
    a save_pretrained folder given as a model was 'a folder, not a model'."""
    folder = idrnet.build_model(tiny_config("idrnet", num_classes=3)).eval().save_pretrained(tmp_path / "m")
    monkeypatch.chdir(folder)
    with pytest.raises(InputError, match="no repository named"):
        idrnet.create_model("hf-hub:")
    with pytest.raises(InputError, match="a Hugging Face Hub model is named hf-hub:someone/model"):
        idrnet.create_model("hf_hub:someone/model")
    assert idrnet.create_model(f"hf-hub:{folder}").num_classes == 3


def test_from_pretrained_on_a_training_runs_folder_names_its_weights(trained):
    """from_pretrained("runs/x") said only "holds no model.safetensors": the run's weights are named."""
    _, final, _ = trained
    with pytest.raises(FileNotFoundError, match=f"keeps its weights as {final}"):
        idrnet.from_pretrained(final.parent)


def test_a_model_folder_is_a_model_everywhere(tmp_path, data, capsys):
    """A save_pretrained folder given as a model was refused ("is a model folder: pass hf-hub:FOLDER or
    FOLDER/model.safetensors"), by relations as "no such checkpoint file", and as --checkpoint weights as
    "does not exist"; a training run's folder as "a folder, not a model"."""
    from idrnet.cli.main import main as cli
    from runs import error_of, write_config

    model = idrnet.build_model(tiny_config("idrnet", num_classes=11)).eval()
    folder = model.save_pretrained(tmp_path / "m")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(idrnet.create_model(str(folder))(x), model(x))
        assert torch.equal(idrnet.Predictor(folder).network(x), model(x))
        assert torch.equal(idrnet.create_model(tiny_config("idrnet", num_classes=11), checkpoint=folder)(x), model(x))
    image = str(sorted((data / "images" / "val").iterdir())[0])
    assert cli(["predict", image, "--model", str(folder), "--out", str(tmp_path / "p")]) == 0
    assert cli(["relations", str(folder), "--out", str(tmp_path / "r")]) == 0
    config = write_config(tmp_path, data)
    assert cli(["test", str(config), "--checkpoint", str(folder), "--out", str(tmp_path / "t.json")]) == 0
    assert "nothing to convert" in error_of(capsys, ["convert", str(folder), str(tmp_path / "c.safetensors")])
    run = tmp_path / "run"
    run.mkdir()
    idrnet.save_checkpoint(model, run / "final.safetensors")
    err = error_of(capsys, ["predict", image, "--model", str(run), "--out", str(tmp_path / "p2")])
    assert f"{run} is a training run's folder: its model is {run / 'final.safetensors'}" in err


def test_an_attached_smp_model_loads_back_and_smp_points_to_idrnet(tmp_path):
    torch.manual_seed(0)
    model = idrnet.attach(smp.Unet("resnet18", encoder_weights=None, classes=4, decoder_channels=(64, 32, 16, 8, 4)),
                          4, **SMALL)
    with torch.no_grad():
        model.decode_head.class_relations_mean.add_(torch.rand(4, 4))
    folder = idrnet.save_pretrained(model, tmp_path / "unet")
    loaded = idrnet.from_pretrained(str(folder))
    assert type(loaded.model).__name__ == "Unet" and loaded.config.feats_channels == 16
    _same_logits(model, loaded)
    with pytest.raises(AttributeError, match="load it with idrnet.from_pretrained"):
        smp.from_pretrained(str(folder))


def test_aux_params_and_dpt_models_save_as_config_lines_and_an_activation_is_refused(tmp_path):
    """SMP's classification head (aux_params) and DPT round trip; an activation inside forward is named."""
    from idrnet.dropin.wrapped import WrappedModel
    from idrnet.errors import InputError

    torch.manual_seed(0)
    aux = idrnet.attach(smp.FPN("resnet18", encoder_weights=None, classes=3,
                                aux_params={"classes": 2, "dropout": 0.1, "activation": "sigmoid"}), 3, **SMALL)
    loaded = idrnet.from_pretrained(str(idrnet.save_pretrained(aux, tmp_path / "aux")))
    assert loaded.external.options["aux_params"] == {"classes": 2, "dropout": 0.1, "activation": "sigmoid"}
    _same_logits(aux, loaded)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x)[1], aux.eval()(x)[1])  # the classification head too
    dpt = idrnet.attach(smp.DPT("tu-vit_tiny_patch16_224", encoder_weights=None, classes=3, dynamic_img_size=True),
                        3, **SMALL)
    loaded = idrnet.from_pretrained(str(idrnet.save_pretrained(dpt, tmp_path / "dpt")))
    assert type(loaded.model).__name__ == "DPT" and loaded.config.input_size is None
    _same_logits(dpt, loaded)
    # An activation inside forward would have IDRNet (and the baseline) trained on probabilities: refused
    with_activation = smp.Unet("resnet18", encoder_weights=None, classes=3, activation="softmax2d")
    for wrap in (lambda m: idrnet.attach(m, 3, **SMALL), lambda m: WrappedModel.of(m, 3)):
        with pytest.raises(InputError, match="ends in an activation .Softmax.*activation=None"):
            wrap(with_activation)


def _populate_hub_cache(cache, repo_id, folder, commit="0" * 40):
    """The Hugging Face cache layout (models--user--repo/{refs/main, snapshots/<commit>/…}), as
    hf_hub_download leaves it, so the client itself finds the files offline."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)


def test_hf_hub_names_load_from_the_clients_cache_in_the_api_and_the_cli(tmp_path, monkeypatch, capsys):
    import numpy as np
    from PIL import Image

    from idrnet.cli.main import main as cli

    model = idrnet.build_model(tiny_config("idrnet", num_classes=3)).eval()
    folder = model.save_pretrained(tmp_path / "m")
    cache = tmp_path / "hf-cache"
    _populate_hub_cache(cache, "someone/tiny-idrnet", folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _same_logits(model, idrnet.create_model("hf-hub:someone/tiny-idrnet"))
    _same_logits(model, idrnet.from_pretrained("someone/tiny-idrnet"))
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 40, 3), dtype=np.uint8)).save(image)
    assert idrnet.Predictor("hf-hub:someone/tiny-idrnet").predict(str(image)).shape == (32, 40)
    assert cli(["predict", str(image), "--model", "hf-hub:someone/tiny-idrnet", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "photo.png").is_file()
    assert cli(["predict", str(image), "--model", "hf-hub:someone/not-cached", "--out", str(tmp_path / "o2")]) == 2
    assert "not in the local Hugging Face cache" in capsys.readouterr().err


class StandInApi:
    """huggingface_hub.HfApi's calls that push_to_hub makes, against a repository held in a dict."""

    def __init__(self, files: dict[str, bytes] | None = None, where=None):
        self.calls, self.files, self.where = [], files, where

    def repo_exists(self, repo_id):
        return self.files is not None

    def list_repo_files(self, repo_id):
        return sorted(self.files)

    def hf_hub_download(self, repo_id, filename):
        path = self.where / filename
        path.write_bytes(self.files[filename])
        return str(path)

    def create_repo(self, repo_id, private, exist_ok):
        self.calls.append(("create_repo", repo_id, private, exist_ok))

    def upload_folder(self, repo_id, folder_path, commit_message):
        from pathlib import Path

        sent = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        self.calls.append(("upload_folder", repo_id, sorted(sent), commit_message))
        self.sent = sent
        return "https://huggingface.co/someone/tiny/commit/abc"


def test_push_to_hub_never_replaces_another_librarys_files_unasked(tmp_path):
    """push_to_hub into an existing repository of another library (a transformers model: its config.json and
    model card) replaced both, breaking that model for its users: refused unless overwrite=True; a repository
    idrnet pushed before is updated as it was."""
    model = idrnet.build_model(tiny_config("idrnet", num_classes=3))
    theirs = StandInApi({"README.md": b"# My BERT\n", "config.json": b'{"model_type": "bert"}', "x.bin": b""}, tmp_path)
    with pytest.raises(ValueError, match=r"hf-hub:someone/bert holds README.md and config.json that idrnet did not write"):
        model.push_to_hub("someone/bert", api=theirs)
    assert theirs.calls == []
    assert model.push_to_hub("someone/bert", api=theirs, overwrite=True).endswith("/commit/abc")
    ours = StandInApi(dict(theirs.sent), tmp_path)  # what the first push left
    assert model.push_to_hub("someone/bert", api=ours).endswith("/commit/abc")


def test_push_to_hub_sends_the_folder_to_the_repository(tmp_path):
    api = StandInApi()
    model = idrnet.build_model(tiny_config("idrnet", num_classes=3))
    assert model.push_to_hub("someone/tiny", api=api).endswith("/commit/abc")
    assert api.calls[0] == ("create_repo", "someone/tiny", False, True)
    assert api.calls[1][2] == ["README.md", "config.json", "model.safetensors"]
    assert "hf-hub:someone/tiny" in api.sent["README.md"].decode()
    assert json.loads(api.sent["config.json"])["library"] == "idrnet"


def test_save_pretrained_never_replaces_files_it_did_not_write(tmp_path):
    """save_pretrained(model, ".") in a project said "already holds a model (README.md)" and, with
    overwrite=True, replaced the project's README.md with a model card (another library's config.json
    likewise). Only files save_pretrained wrote are replaced."""
    model = idrnet.build_model(tiny_config("idrnet", num_classes=3)).eval()
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# my project\n")
    for overwrite in (False, True):
        with pytest.raises(InputError, match="holds README.md that idrnet did not write"):
            model.save_pretrained(project, overwrite=overwrite)
    assert (project / "README.md").read_text() == "# my project\n" and sorted(os.listdir(project)) == ["README.md"]
    other = tmp_path / "transformers_model"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "segformer"}')
    (other / "model.safetensors").write_bytes(b"not ours")
    with pytest.raises(InputError, match="config.json that idrnet did not write"):
        model.save_pretrained(other, overwrite=True)
    assert (other / "model.safetensors").read_bytes() == b"not ours"
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset.yaml").write_text("classes: [a, b, c]\n")
    with pytest.raises(InputError, match="is a dataset folder"):
        model.save_pretrained(data)
    assert sorted(os.listdir(data)) == ["dataset.yaml"]
    folder = model.save_pretrained(tmp_path / "m")  # its own folder is replaced when asked
    assert model.save_pretrained(folder, overwrite=True) == folder
