"""Training runs as users start them again: work dirs, --set, overwrite and resume rules, non-finite numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from runs import error_of, make_dataset, write_config

from idrnet.cli.main import main as cli
from idrnet.config import ConfigError
from idrnet.engine.config import load_train_config, parse_override
from idrnet.engine.errors import TrainingError
from idrnet.engine.trainer import Trainer, train


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


def test_a_folder_of_other_files_is_not_taken_as_a_work_dir(tmp_path, data, capsys):
    """--work-dir given the dataset folder, a folder of images, the current project folder (or /) trained
    there, writing config.yaml, checkpoints, .lock and tensorboard/ among the user's files. A fresh run
    refuses a folder holding anything a run does not write, before writing .lock; a folder holding only
    what runs and `idrnet test` leave is taken. A config inside its work dir, where the run saves its
    resolved config, is named as such (it was called "the saved config of the run")."""
    config = write_config(tmp_path, data)
    before = sorted(p.name for p in data.iterdir())
    err = error_of(capsys, ["train", str(config), "--work-dir", str(data)])
    assert "holds files that are not a training run's (dataset.yaml, images/, masks/)" in err and "runs/NAME" in err
    assert sorted(p.name for p in data.iterdir()) == before  # no .lock, no config.yaml
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("mine")
    assert "(notes.md)" in error_of(capsys, ["train", str(config), "--work-dir", str(mine)])
    leftovers = tmp_path / "leftovers"  # a run stopped before its first checkpoint, and a test's results
    leftovers.mkdir()
    for name in ("log.jsonl.tmp", "final_results.json", ".DS_Store"):
        (leftovers / name).write_text("{}")
    (leftovers / "tensorboard").mkdir()
    assert cli(["train", str(config), "--work-dir", str(leftovers)]) == 0
    inside = tmp_path / "exp"
    inside.mkdir()
    own = inside / "config.yaml"
    own.write_text(config.read_text())
    err = error_of(capsys, ["train", str(own), "--work-dir", str(inside)])
    assert "lies where the run would save its resolved config" in err and own.read_text() == config.read_text()


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
    # the run's final weights are not a training state: the error says how to start from them (it depended on
    # the file's first bytes: torch read some .safetensors headers as a pickle, refused others as foreign)
    final = tmp_path / "run" / "final.safetensors"
    err = error_of(capsys, ["train", str(path), "--resume", str(final), "--set", f"work_dir={tmp_path / 'next'}"])
    assert "holds model weights only" in err and f"--set init_checkpoint={final}" in err
    other = tmp_path / "other.safetensors"
    other.write_bytes(bytes([0x38, 0, 0, 0, 0, 0, 0, 0]) + final.read_bytes()[8:])  # a header length torch refuses
    err = error_of(capsys, ["train", str(path), "--resume", str(other), "--set", f"work_dir={tmp_path / 'next'}"])
    assert "holds model weights only" in err and "not a PyTorch checkpoint" not in err


def test_non_finite_config_numbers_and_zero_intervals_are_rejected(tmp_path, data):
    path = write_config(tmp_path, data)
    for override, key in (("optim.lr=.inf", "optim.lr"), ("optim.lr=nan", "optim.lr"),
                          ("val_interval=0", "val_interval"), ("checkpoint_interval=0", "checkpoint_interval"),
                          ("log_interval=-1", "log_interval"), ("optim.lr=0", "optim.lr")):
        with pytest.raises(ConfigError, match=key):
            load_train_config(path, [override])


@pytest.mark.parametrize("override,message", [
    ("model.head.dropout=1.5", "model.head.dropout: expected a probability in [0, 1), got 1.5"),
    ("model.auxiliary.dropout=-0.1", "model.auxiliary.dropout: expected a probability"),
    ("model.head.feats_channels=0", "model.head.feats_channels: expected a positive number of channels"),
    ("model.auxiliary.weight=-1", "model.auxiliary.weight: expected a loss weight ≥ 0"),
    ("model.backbone.base_width=0", "model.backbone.base_width: expected a positive width"),
    # AdamW's own ValueError ("Invalid beta parameter") was reported as a bug in idrnet; momentum 9 trained
    ("optim.betas=[2,0.9]", "optim.betas: expected two values in 0 … 1 (below 1), such as [0.9, 0.999], got [2.0, 0.9]"),
    ("optim.momentum=9", "optim.momentum: expected 0 ≤ momentum < 1 (typically 0.9), got 9.0"),
    # a file as the dataset folder was "train.yaml/dataset.yaml does not exist"
    ("data.root=REPLACE/dataset.yaml", "dataset.yaml is a file; expected the folder holding dataset.yaml: give its folder"),
])
def test_model_values_are_checked_with_their_key(tmp_path, data, capsys, override, message):
    """These failed inside a layer's constructor (an internal error) or trained against the loss."""
    path = write_config(tmp_path, data)
    assert message in error_of(capsys, ["train", str(path), "--set", override.replace("REPLACE", str(data))])
    assert not (tmp_path / "run").exists()  # nothing written, not even an empty work_dir


def test_a_crop_larger_than_any_resized_image_is_warned_about(tmp_path, data):
    from idrnet.engine.config import config_warnings

    path = write_config(tmp_path, data)
    assert config_warnings(load_train_config(path)) == []
    (warning,) = config_warnings(load_train_config(path, ["data.crop=[4000,4000]"]))
    assert "data.crop [4000, 4000] is larger than any resized training image" in warning
    (warning,) = config_warnings(load_train_config(path, ["data.val_split=train"]))
    assert warning.startswith("data.val_split is the training split ('train'): the validation mIoU")
    (warning,) = config_warnings(load_train_config(path, ["optim.warmup_iters=2"]))  # iterations: 2
    assert warning.startswith("optim.warmup_iters (2) is not below iterations (2): the whole run is warm-up")


def test_a_data_worker_killed_for_memory_is_named_not_reported_as_a_bug(tmp_path, data, capsys, monkeypatch):
    import idrnet.engine.trainer as trainer_module

    def killed(*args, **kwargs):
        raise RuntimeError("DataLoader worker (pid 4891) is killed by signal: Killed. ")

    monkeypatch.setattr(trainer_module, "train", killed)
    assert cli(["train", str(write_config(tmp_path, data))]) == 1
    err = capsys.readouterr().err
    assert "killed by signal" in err and "memory" in err and "--resume" in err
    assert "Traceback" not in err and "bug in idrnet" not in err


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


def test_convert_reads_the_model_of_a_training_state(tmp_path, data):
    path = write_config(tmp_path, data, checkpoint_interval=2)
    train(load_train_config(path))
    out = tmp_path / "from_state.safetensors"
    assert cli(["convert", str(tmp_path / "run" / "iter_2.pt"), str(out)]) == 0
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(out))["decode_head.class_relations_mean"],
                       load_file(str(tmp_path / "run" / "final.safetensors"))["decode_head.class_relations_mean"])


def test_a_work_dir_among_the_datasets_images_is_refused_and_left_uncreated(tmp_path, data, capsys):
    path = write_config(tmp_path, data, work_dir=str(data / "images" / "train" / "run"))
    err = error_of(capsys, ["train", str(path)])
    assert "work_dir" in err and "lies in the dataset's image or label folder" in err
    assert not (data / "images" / "train" / "run").exists()


def test_the_saved_config_finds_the_dataset_from_any_folder(tmp_path, data, monkeypatch):
    """A relative data.root was saved as given: `idrnet test WORK_DIR/config.yaml` from another folder
    looked for the dataset there."""
    monkeypatch.chdir(data.parent)
    path = write_config(tmp_path, data.name)  # root relative to the folder training starts in
    train(load_train_config(path))
    saved = load_train_config(tmp_path / "run" / "config.yaml")
    assert saved.data.root == str(data.resolve()) or Path(saved.data.root).resolve() == data.resolve()
    monkeypatch.chdir(tmp_path)
    assert cli(["test", str(tmp_path / "run" / "config.yaml"), "--checkpoint", str(tmp_path / "run" / "final.safetensors"),
                "--out", str(tmp_path / "results.json")]) == 0


def test_init_checkpoint_official_fetches_the_zoo_models_published_weights(tmp_path, capsys, monkeypatch):
    """init_checkpoint: official was read as a file called official ("No such file or directory"); it means
    the zoo model's published weights (fine-tuning it), fetched and verified like create_model's. The ImageNet
    backbone is not fetched first (every weight is overwritten)."""
    import idrnet.models.download as download
    from idrnet.data.classes import CITYSCAPES_CLASSES
    from idrnet.errors import InputError
    from idrnet.models.zoo import MODEL_ZOO

    cityscapes_like = make_dataset(tmp_path / "d", classes=list(CITYSCAPES_CLASSES), palette=[[i, i, i] for i in range(19)])
    asked = []

    def fetch(url, sha256=None):
        asked.append((url, sha256))
        raise InputError("fetched (test)")

    monkeypatch.setattr(download, "fetch", fetch)
    name = "fcn_resnet50os8_cityscapes"
    config = write_config(tmp_path, cityscapes_like, model=name, init_checkpoint="official")
    assert "fetched (test)" in error_of(capsys, ["train", str(config)])
    assert asked == [(MODEL_ZOO[name].checkpoint_url, MODEL_ZOO[name].checkpoint_sha256)]
    own = write_config(tmp_path, make_dataset(tmp_path / "e"), "own.yaml", init_checkpoint="official")
    assert "official means the published weights of a zoo model; model is not a zoo name here" in error_of(
        capsys, ["train", str(own)])


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, data):
    """A training run's folder (work dir) of the default config, its final.safetensors the weights to start from."""
    root = tmp_path_factory.mktemp("source")
    train(load_train_config(write_config(root, data, work_dir=str(root / "source"))))
    return root / "source"


def test_fine_tuning_on_other_classes_keeps_every_weight_but_the_class_sized_ones(tmp_path, data, source_run, capsys):
    """A model of 11 classes as init_checkpoint for a 5-class dataset (or create_model(…, num_classes=5)) was
    "does not fit the model: 10 of the wrong shape": a published model could not be fine-tuned on one's own
    classes. The tensors sized by the classes (classifiers, class relations, class vectors) start afresh,
    every other one is loaded; a checkpoint of another architecture is still refused."""
    import idrnet
    from idrnet.models.checkpoint import CheckpointError
    from safetensors.torch import load_file

    final = source_run / "final.safetensors"
    published = load_file(str(final))
    five = make_dataset(tmp_path / "five", classes=list("abcde"), palette=[[40 * i, 0, 0] for i in range(5)],
                        label_map={v: 255 for v in range(5, 11)})
    model = yaml.safe_load(write_config(tmp_path, data).read_text())["model"]
    del model["num_classes"]  # the dataset's
    config = write_config(tmp_path, five, "five.yaml", model=model, init_checkpoint=str(final),
                          work_dir=str(tmp_path / "five_run"))
    trainer = Trainer(load_train_config(config))
    said = capsys.readouterr().out
    assert "has another number of classes than this dataset's 5: its 10 tensor(s) sized by the classes start afresh" in said
    state = trainer.model.state_dict()
    fresh = {k for k in state if state[k].shape != published[k].shape}
    assert {"decode_head.class_relations_mean", "decode_head.dl_cls_representations", "auxiliary_head.4.weight"} <= fresh
    assert len(fresh) == 10 and all(5 in state[k].shape for k in fresh)
    assert all(torch.equal(state[k], published[k]) for k in state if k not in fresh)
    assert trainer.run()["iteration"] == 2
    # the same in Python, as timm's create_model(…, pretrained=True, num_classes=5)
    built = idrnet.create_model(str(final), num_classes=5).state_dict()
    assert all(torch.equal(built[k], published[k]) for k in built if k not in fresh)
    assert built["decode_head.decoder_stage2.4.weight"].shape[0] == 5
    # another architecture is not fine-tuned from: the error names the mismatch as before
    fcn = {**model, "num_classes": 5, "head": {"type": "fcn", "feats_channels": 16}}
    with pytest.raises(CheckpointError, match="does not fit the model"):
        idrnet.create_model(fcn, checkpoint=str(final), num_classes=5)


def test_init_checkpoint_takes_a_model_folder_and_names_a_run_folder(tmp_path, data, source_run, capsys):
    """init_checkpoint: a save_pretrained folder (or hf-hub:user/repo, resolved the same way) was "checkpoint
    'folder' does not exist"; a training run's folder is named with its weights files; no ImageNet backbone
    is fetched for weights that init_checkpoint replaces."""
    import idrnet

    folder = idrnet.create_model(str(source_run / "final.safetensors")).save_pretrained(tmp_path / "shared")
    # pretrained_backbone: true (as the zoo recipes say) fetched the ImageNet backbone before init_checkpoint
    # replaced it: offline, a download error
    config = write_config(tmp_path, data, init_checkpoint=str(folder), work_dir=str(tmp_path / "from_folder"),
                          pretrained_backbone=True)
    assert cli(["train", str(config)]) == 0
    capsys.readouterr()
    err = error_of(capsys, ["train", str(config), "--set", f"init_checkpoint={source_run}",
                            "--work-dir", str(tmp_path / "w2")])
    assert f"is a training run's folder: its weights are {source_run / 'final.safetensors'}" in err
    err = error_of(capsys, ["train", str(config), "--set", f"init_checkpoint={tmp_path}/nowhere.pth",
                            "--work-dir", str(tmp_path / "w3")])
    assert "nowhere.pth does not exist" in err


def test_a_resumed_run_does_not_read_its_init_checkpoint_again(tmp_path, data, source_run):
    """Resuming loaded init_checkpoint first (then replaced every weight from latest.pt): a requeued job
    failed when those weights had been moved, or, for `official` or a URL, were not in this node's cache."""
    import shutil

    init = tmp_path / "init.safetensors"
    shutil.copy(source_run / "final.safetensors", init)
    config = load_train_config(write_config(tmp_path, data, init_checkpoint=str(init), iterations=4))
    assert train(config, max_iterations=2)["iteration"] == 2
    init.unlink()
    assert train(config, resume="auto")["iteration"] == 4


def test_a_home_folder_written_with_a_tilde_is_the_home_folder(tmp_path, data, monkeypatch, capsys):
    """`work_dir: ~/runs/x` in a YAML file (or --set) made a folder called '~' in the current folder, and
    `data.root: ~/data` was "does not exist": no shell expands them there."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(data, home / "ds")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, data, iterations=1, val_interval=1, checkpoint_interval=1)
    assert cli(["train", str(config), "--set", "data.root=~/ds", "--set", "work_dir=~/runs/x"]) == 0
    assert (home / "runs" / "x" / "final.safetensors").is_file() and not (tmp_path / "~").exists()
    assert load_train_config(home / "runs" / "x" / "config.yaml").data.root == str(home / "ds")
    check = tmp_path / "bench.yaml"
    check.write_text("dataset: ade20k\nroot: ~/nowhere\n")
    assert f"root {home / 'nowhere'} does not exist" in error_of(capsys, ["data", "check", str(check)])
