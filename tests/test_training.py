"""Training: resume exactness, smoke runs per head family, failures, configs, DDP."""

import dataclasses
import json
import os

import pytest
import torch
import torch.multiprocessing as mp
import yaml
from safetensors.torch import load_file

from idrnet.cli.main import main as cli
from idrnet.config import ConfigError
from idrnet.data.synth import write_synthetic_dataset
from idrnet.engine.config import load_train_config
from idrnet.engine.trainer import TrainingError, _Order, _shares, poly_lr, train
from idrnet.models.build import build_model


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_dataset(root, 8, 2, 32, seed=0, progress=False)
    return root


def write_config(tmp_path, synth, head=None, **extra):
    cfg = {
        "model": {"num_classes": 11, "backbone": {"name": "resnet18v1c", "base_width": 4},
                  "head": head or {"type": "idrnet", "feats_channels": 16, "transform_channels": 8},
                  "auxiliary": {"channels": 16}},
        "data": {"root": str(synth), "scale": [64, 32], "crop": [32, 32], "num_workers": 0},
        "iterations": 6, "batch_size": 4, "val_interval": 100, "checkpoint_interval": 100, "log_interval": 2,
        "work_dir": str(tmp_path / "run"),
    }
    cfg.update(extra)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resume_gives_the_same_weights_as_training_straight(tmp_path, synth):
    straight = load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / 'a'}"])
    train(straight)
    split = load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / 'b'}"])
    first = train(split, max_iterations=3)  # as if killed after 3 iterations
    assert first["iteration"] == 3
    train(split, resume=True)
    a = load_file(str(tmp_path / "a" / "final.safetensors"))
    b = load_file(str(tmp_path / "b" / "final.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_fp16_grad_scaler_state_is_checkpointed_and_resumed_exactly(tmp_path, synth):
    """amp=fp16 runs autocast with a GradScaler (on CPU here; the same code path as on CUDA): its scale
    moves (an overflowing first step is skipped and halves it), is saved, and a resume reproduces it."""
    options = ["amp=fp16"]
    train(load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / 'a'}", *options]))
    split = load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / 'b'}", *options])
    train(split, max_iterations=3)
    train(split, resume=True)
    scalers = [torch.load(tmp_path / d / "latest.pt", weights_only=True)["scaler"] for d in ("a", "b")]
    assert scalers[0] == scalers[1] and scalers[0]["scale"] < 65536.0
    a = load_file(str(tmp_path / "a" / "final.safetensors"))
    b = load_file(str(tmp_path / "b" / "final.safetensors"))
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("head", [
    {"type": "fcn", "feats_channels": 16},
    {"type": "pspnet", "feats_channels": 16},
    {"type": "deeplabv3", "feats_channels": 16},
    {"type": "upernet", "feats_channels": 16},
    {"type": "idrnet", "feats_channels": 16, "transform_channels": 8, "context": "aspp", "context_refiner": "after",
     "fpn_channels": 16},
])
def test_few_iteration_smoke_per_head_family(tmp_path, synth, head):
    result = train(load_train_config(write_config(tmp_path, synth, head=head, iterations=2)))
    assert result["iteration"] == 2 and 0.0 <= result["metrics"]["mIoU"] <= 1.0
    assert (tmp_path / "run" / "config.yaml").is_file() and (tmp_path / "run" / "log.jsonl").is_file()


def test_nan_loss_stops_with_the_iteration_named(tmp_path, synth):
    config = load_train_config(write_config(tmp_path, synth), ["optim.lr=1e30"])
    with pytest.raises(TrainingError, match="iteration"):
        train(config)


def test_config_errors_name_the_key(tmp_path, synth):
    path = write_config(tmp_path, synth)
    with pytest.raises(ConfigError, match="optim.lrr"):
        load_train_config(path, ["optim.lrr=0.1"])
    with pytest.raises(ConfigError, match="iterations: expected an integer"):
        load_train_config(path, ["iterations=many"])
    # 8e4 is text to YAML 1.1 ("expected an integer, got '8e4'"): a whole number as written is one
    assert load_train_config(path, ["iterations=8e4"]).iterations == 80000
    assert load_train_config(path, ["iterations=1.6E5"]).iterations == 160000
    for fraction in ("2.5", "2.5e0", "1e-3"):
        with pytest.raises(ConfigError, match="iterations: expected an integer"):
            load_train_config(path, [f"iterations={fraction}"])
    # a size written as people write sizes: the message shows the list to write
    for written in ("64", "64x64", "[64]"):
        with pytest.raises(ConfigError, match=r"data.crop: expected (a list of )?2 values such as \[64, 64\], got"):
            load_train_config(path, [f"data.crop={written}"])
    with pytest.raises(ConfigError, match=r"holds 8 sample\(s\), fewer than one batch \(batch_size: 64\): lower batch_size"):
        train(load_train_config(path, ["batch_size=64"]))
    missing = load_train_config(path, [f"data.root={tmp_path / 'nowhere'}"])
    with pytest.raises(FileNotFoundError, match="dataset folder .*nowhere does not exist"):
        train(missing)


def test_cli_reports_user_errors_without_traceback(tmp_path, synth, capsys):
    assert cli(["train", str(write_config(tmp_path, synth)), "--set", "batch_size=zero"]) == 2
    err = capsys.readouterr().err
    assert "batch_size" in err and "Traceback" not in err


def test_more_loader_workers_than_cores_is_one_warning(tmp_path, synth, capsys, monkeypatch):
    """The zoo recipes' num_workers: 4 on a 2-core laptop printed PyTorch's paragraph ("This DataLoader will
    create 4 worker processes in total. Our suggested max …") for each loader; one line of ours now, naming
    the key and the cores."""
    import idrnet.devices as devices

    monkeypatch.setattr(devices, "usable_cores", lambda: 1)
    config = write_config(tmp_path, synth, iterations=1)
    assert cli(["train", str(config), "--set", "data.num_workers=3"]) == 0  # 3 > this host's 2: PyTorch warns
    err = capsys.readouterr().err
    assert "warning: data.num_workers is 3 but this process may use 1 CPU core(s)" in err
    assert "This DataLoader will create" not in err


def test_base_config_single_level(tmp_path, synth):
    base = write_config(tmp_path, synth)
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({"base": base.name, "iterations": 9}))
    assert load_train_config(child).iterations == 9
    grandchild = tmp_path / "grandchild.yaml"
    grandchild.write_text(yaml.safe_dump({"base": child.name}))
    with pytest.raises(ConfigError, match="one level"):
        load_train_config(grandchild)


def test_poly_schedule_with_floor_and_warmup(tmp_path, synth):
    config = load_train_config(write_config(tmp_path, synth, iterations=100), ["optim.lr=0.01"])
    assert poly_lr(config, 0) == pytest.approx(0.01)
    assert poly_lr(config, 100) == pytest.approx(1e-4)
    warm = load_train_config(write_config(tmp_path, synth, iterations=100), ["optim.warmup_iters=10"])
    assert poly_lr(warm, 0) == pytest.approx(0.01 * 1e-6)


def _ddp_worker(rank, world, config_path, init_file):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    train(load_train_config(config_path))
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize("batch", [4, 3], ids=["even", "uneven"])
def test_two_process_ddp_matches_one_process_with_the_same_total_batch(tmp_path, synth, batch):
    # Dropout draws differ per process and IDRNet's deletions are per process (its statistics'
    # equality across ranks is tested in test_idrnet_distributed), so compare a dropout-free FCN.
    # A total batch of 3 splits 2 + 1: the shares' losses are weighted by their sizes.
    head = {"type": "fcn", "feats_channels": 16, "dropout": 0.0}
    one = write_config(tmp_path, synth, head=head, iterations=3, batch_size=batch, work_dir=str(tmp_path / "one"))
    cfg = yaml.safe_load(one.read_text())
    cfg["model"]["auxiliary"]["dropout"] = 0.0
    # No padding, so every process averages its loss over as many pixels (DDP averages the means).
    cfg["data"]["ratio_range"] = [1.0, 1.0]
    one.write_text(yaml.safe_dump(cfg))
    train(load_train_config(one))
    two_path = tmp_path / "two.yaml"
    cfg = yaml.safe_load(one.read_text())
    cfg["work_dir"] = str(tmp_path / "two")
    two_path.write_text(yaml.safe_dump(cfg))
    mp.spawn(_ddp_worker, args=(2, str(two_path), str(tmp_path / "init")), nprocs=2, join=True)
    a = load_file(str(tmp_path / "one" / "final.safetensors"))
    b = load_file(str(tmp_path / "two" / "final.safetensors"))
    # Cross-process BatchNorm gives whole-batch statistics; tolerance covers float summation order.
    for key in a:
        if a[key].dtype.is_floating_point:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")
    # The logged loss is the whole total batch's mean, not rank 0's share.
    import json

    def logged(run):
        lines = (tmp_path / run / "log.jsonl").read_text().splitlines()
        return [json.loads(line)["loss_total"] for line in lines if "loss_total" in line]

    torch.testing.assert_close(torch.tensor(logged("two")), torch.tensor(logged("one")), rtol=1e-4, atol=1e-5)


def test_bad_samples_are_skipped_and_listed_when_opted_in(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    root = tmp_path / "data"
    write_synthetic_dataset(root, 6, 2, 32, seed=2, progress=False)
    bad = sorted((root / "masks/train").glob("*.png"))[0]
    Image.fromarray(np.full((32, 32), 77, np.uint8)).save(bad)
    path = write_config(tmp_path, root, iterations=2)
    with pytest.raises(Exception, match=bad.name):
        train(load_train_config(path, [f"work_dir={tmp_path / 'strict'}"]))
    train(load_train_config(path, ["data.skip_bad_samples=true", f"work_dir={tmp_path / 'lenient'}"]))
    assert bad.name in capsys.readouterr().out
    assert bad.name in (tmp_path / "lenient" / "skipped_samples.txt").read_text()


@pytest.mark.slow
def test_learns_on_generated_data(tmp_path):
    """A small IDRNet-FCN learns the generated context dataset (quickstart model, shorter run)."""
    root = tmp_path / "synth"
    write_synthetic_dataset(root, 200, 40, 128, seed=0, progress=False)
    config = load_train_config(
        os.path.join(os.path.dirname(__file__), "..", "configs", "quickstart_synth_idrnet_fcn_r18.yaml"),
        [f"data.root={root}", "iterations=80", "val_interval=80", "checkpoint_interval=80", f"work_dir={tmp_path / 'run'}"],
    )
    result = train(config)
    assert result["metrics"]["mIoU"] > 0.3


def test_gradient_accumulation_keeps_the_total_batch(tmp_path, synth):
    """Each process's batch of 4 runs as two micro-batches of 2 whose gradients are accumulated, each
    chunk's mean loss weighted by its share of the batch (BatchNorm then sees micro-batch statistics):
    the step's gradients equal those of the chunks run by hand; a cap that does not divide gives
    near-equal chunks."""
    import copy

    from idrnet.engine.losses import training_losses
    from idrnet.engine.trainer import Trainer

    config = load_train_config(write_config(tmp_path, synth, iterations=2, batch_size=4),
                               ["max_batch_per_process=2", f"work_dir={tmp_path / 'acc'}"])
    trainer = Trainer(config)
    assert trainer.num_chunks == 2
    reference = copy.deepcopy(trainer.model).train()
    images, targets = torch.randn(4, 3, 32, 32), torch.randint(0, 11, (4, 32, 32))
    torch.manual_seed(3)
    trainer.step(images, targets, lr=0.01)
    torch.manual_seed(3)
    for part in (slice(0, 2), slice(2, 4)):
        (training_losses(reference, images[part], targets[part])["total"] * 0.5).backward()
    got = dict(trainer.model.named_parameters())
    for name, p in reference.named_parameters():
        if p.grad is not None:
            assert torch.allclose(got[name].grad, p.grad, rtol=1e-5, atol=1e-7), name
    # the whole batch in one forward gives other gradients (BatchNorm statistics of 4, not 2)
    whole = copy.deepcopy(reference)
    whole.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    training_losses(whole, images, targets)["total"].backward()
    assert not torch.allclose(dict(whole.named_parameters())["backbone.body.conv1.0.weight"].grad,
                              got["backbone.body.conv1.0.weight"].grad)
    uneven = load_train_config(write_config(tmp_path, synth, iterations=2),
                               ["max_batch_per_process=3", f"work_dir={tmp_path / '3'}"])
    assert train(uneven)["iteration"] == 2


def test_process_shares_of_the_total_batch():
    assert _shares(8, 2, None) == ([4, 4], 1)
    assert _shares(8, 3, None) == ([3, 3, 2], 1)
    assert _shares(8, 3, 2) == ([3, 3, 2], 2)  # every process runs as many forwards
    with pytest.raises(ConfigError, match="smaller than the 4 processes"):
        _shares(3, 4, None)
    with pytest.raises(ConfigError, match="max_batch_per_process 1 .* at least 2"):
        _shares(5, 2, 1)  # 3 + 2 samples in 3 micro-batches would leave the second process one short
    # The union of the processes' samples at each step is the one-process batch, in any world size.
    single = _Order(23, 6, seed=5, rank=0, world=1).batch_indices(epoch=2)
    for world in (2, 4, 5):
        parts = [_Order(23, 6, seed=5, rank=r, world=world).batch_indices(epoch=2) for r in range(world)]
        assert [sorted(sum((p[i] for p in parts), [])) for i in range(len(single))] == [sorted(b) for b in single]


def test_tensorboard_scalars_are_written(tmp_path, synth):
    from tensorboardX.proto import event_pb2

    train(load_train_config(write_config(tmp_path, synth, iterations=2, val_interval=2)))
    files = list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert files
    data = files[0].read_bytes()
    tags = set()
    offset = 0
    while offset < len(data):  # TFRecord: length (8), crc (4), payload, crc (4)
        length = int.from_bytes(data[offset:offset + 8], "little")
        event = event_pb2.Event.FromString(data[offset + 12: offset + 12 + length])
        tags.update(v.tag for v in event.summary.value)
        offset += 12 + length + 4
    assert {"train/loss_total", "train/lr", "val/mIoU"} <= tags


@pytest.mark.parametrize("signame, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stop_signal_writes_a_resumable_checkpoint(tmp_path, synth, signame, code):
    """Ctrl-C (130) and a scheduler's SIGTERM (143, the code docs/cluster.md gives)."""
    import signal
    import subprocess
    import sys
    import time

    config = write_config(tmp_path, synth, iterations=400, log_interval=1)
    proc = subprocess.Popen([sys.executable, "-m", "idrnet.cli.main", "train", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "run" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and log.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"stopped by {signame}" in err and "--resume auto" in err and "Traceback" not in err
    ckpt = torch.load(tmp_path / "run" / "latest.pt", weights_only=True)
    assert 0 < ckpt["iteration"] < 400
    result = train(load_train_config(config, ["iterations=400"]), resume=True, max_iterations=ckpt["iteration"] + 1)
    assert result["iteration"] == ckpt["iteration"] + 1


def test_every_zoo_model_has_a_valid_official_recipe_config():
    from pathlib import Path

    import idrnet

    folder = Path(__file__).parent.parent / "configs" / "zoo"
    names = {p.stem for p in folder.glob("*.yaml")}
    assert names == set(idrnet.list_models())
    ade = load_train_config(folder / "idrnet_upernet_resnet50os8_ade20k.yaml")
    assert (ade.batch_size, ade.iterations, ade.optim.lr, ade.data.recipe) == (16, 164190, 0.01, "ade20k_512x512")
    city = load_train_config(folder / "idrnet_fcn_resnet50os8_cityscapes.yaml")
    assert (city.batch_size, city.iterations) == (8, 81620)
    for name in names:
        load_train_config(folder / f"{name}.yaml")


def test_bf16_autocast_and_channels_last_on_cpu(tmp_path, synth):
    config = load_train_config(write_config(tmp_path, synth, iterations=2, val_interval=2),
                               ["amp=bf16", "channels_last=true"])
    result = train(config)
    assert result["iteration"] == 2 and 0.0 <= result["metrics"]["mIoU"] <= 1.0


@pytest.mark.slow
def test_compile_option_trains_and_keeps_checkpoint_keys(tmp_path, synth):
    from safetensors.torch import load_file

    config = load_train_config(write_config(tmp_path, synth, iterations=2, val_interval=2, checkpoint_interval=2),
                               ["compile=true"])
    train(config)
    keys = set(load_file(str(tmp_path / "run" / "final.safetensors")))
    assert keys == set(build_model(config.model).state_dict())


def test_zoo_recipes_equal_the_official_configs():
    """Every zoo recipe's optimiser, schedule, total batch, length and pipeline against the official values
    (tests/fixtures/official_recipes.json, extracted from the specification by tools/extract_official_recipes.py)."""
    import json
    from pathlib import Path

    from idrnet.data.official import RECIPES

    official = json.loads((Path(__file__).parent / "fixtures" / "official_recipes.json").read_text())
    train_images = {"ade20k": 20210, "cityscapes": 2975, "cocostuff10k": 9000, "lip": 30462, "pascalcontext59": 4996,
                    "voc": 10582}
    folder = Path(__file__).resolve().parents[1] / "configs" / "zoo"
    assert len(official) == 43  # 20 IDRNet, 8 baselines, 15 OCRNet
    for name, ref in official.items():
        ours = load_train_config(folder / f"{name}.yaml")
        sched, opt, batch = ref["scheduler"], ref["scheduler"]["optimizer"], ref["total_batch"]
        dataset = ref["dataset"].removesuffix("Dataset").lower()
        assert ours.batch_size == batch, name
        assert ours.iterations == train_images[dataset] // batch * sched["max_epochs"], name
        assert (ours.optim.type, ours.optim.lr, ours.optim.weight_decay, ours.optim.power) == (
            opt["type"].lower(), opt["lr"], opt["weight_decay"], sched["power"]), name
        if opt["type"] == "SGD":
            assert ours.optim.momentum == opt["momentum"] and ours.optim.min_lr is None, name  # floor: lr / 100
        else:
            assert tuple(ours.optim.betas) == tuple(opt["betas"]) and ours.optim.min_lr == sched["min_lr"], name
            assert set(ours.optim.no_decay_keywords) == set(opt["params_rules"]), name
            assert (ours.optim.warmup_iters, ours.optim.warmup_ratio) == (
                sched["warmup_cfg"]["iters"], sched["warmup_cfg"]["ratio"]), name
        recipe = RECIPES[ours.data.recipe]
        assert tuple(recipe.scale) == tuple(ref["train_resize"]["output_size"]), name
        assert tuple(recipe.ratio_range) == tuple(ref["train_resize"]["scale_range"]), name
        assert recipe.keep_ratio == ref["train_resize"]["keep_ratio"], name
        assert tuple(recipe.crop) == tuple(ref["train_crop"]), name
        assert tuple(recipe.test_scale or recipe.scale) == tuple(ref["test_resize"]["output_size"]), name


def test_keep_freed_memory_is_applied_unless_switched_off(tmp_path, synth, monkeypatch):
    import idrnet.engine.trainer as trainer_module

    calls = []
    monkeypatch.setattr(trainer_module, "keep_freed_memory", lambda: calls.append(1) or True)
    for keep in (True, False):
        config = load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / str(keep)}",
                                                                   f"keep_freed_memory={str(keep).lower()}"])
        trainer_module.Trainer(config)
        assert len(calls) == 1  # applied once, by the first (default) run only


def test_baseline_flag_trains_the_same_config_without_idrnet(tmp_path, synth, capsys):
    from idrnet import create_model

    config = write_config(tmp_path, synth, iterations=2)
    assert cli(["train", str(config), "--baseline"]) == 0
    assert not (tmp_path / "run").exists()  # the IDRNet arm's work dir stays free
    model = create_model(str(tmp_path / "run_baseline" / "final.safetensors"))
    saved = yaml.safe_load((tmp_path / "run_baseline" / "config.yaml").read_text())
    assert model.config.head.type == "fcn" and saved["model"]["head"]["type"] == "fcn"
    assert saved["model"]["backbone"] == {**saved["model"]["backbone"], **yaml.safe_load(config.read_text())["model"]["backbone"]}
    assert cli(["train", str(config), "--baseline", "--work-dir", str(tmp_path / "b2")]) == 0
    assert (tmp_path / "b2" / "final.safetensors").is_file()
    fcn = write_config(tmp_path, synth, head={"type": "fcn", "feats_channels": 16})
    capsys.readouterr()
    assert cli(["train", str(fcn), "--baseline"]) == 2
    assert "already a baseline" in capsys.readouterr().err


def test_idrnet_false_in_a_native_config_builds_the_baseline(tmp_path, synth):
    """``model.idrnet: false`` (or ``--set model.idrnet=false``) is the in-file form of ``--baseline``:
    the same weights layout as the baseline arm, and a saved model rebuilds as it was."""
    from idrnet import build_model, create_model, save_checkpoint
    from idrnet.dropin.external import baseline_of

    config = load_train_config(write_config(tmp_path, synth), ["model.idrnet=false"])
    built = build_model(dataclasses.replace(config.model, num_classes=11))
    expected = build_model(baseline_of(dataclasses.replace(config.model, num_classes=11)))
    assert built.config.head.type == "fcn" and not built.config.idrnet
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in expected.state_dict().items()}
    again = create_model(str(save_checkpoint(built, tmp_path / "b.safetensors")))
    assert again.config.head.type == "fcn"


def test_run_again_continues_in_the_same_process(tmp_path, synth, monkeypatch):
    """Trainer.run(max_iterations=3) then run() again (or after Ctrl-C in a notebook) started over from
    iteration 0 on the trained weights and failed writing the closed log ("I/O operation on closed file").
    It continues where the last call stopped, to the same weights as one straight run."""
    import signal

    from idrnet.engine.trainer import Trainer, TrainingStopped

    train(load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / 'straight'}"]))
    straight = load_file(str(tmp_path / "straight" / "final.safetensors"))

    def same_weights(work_dir):
        got = load_file(str(work_dir / "final.safetensors"))
        return got.keys() == straight.keys() and all(torch.equal(got[k], straight[k]) for k in got)

    trainer = Trainer(load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / 'twice'}"]))
    assert trainer.run(max_iterations=3)["iteration"] == 3
    assert trainer.run()["iteration"] == 6
    assert same_weights(tmp_path / "twice")
    def logged(work_dir):
        return [json.loads(line)["iteration"] for line in (work_dir / "log.jsonl").read_text().splitlines()]

    assert logged(tmp_path / "twice") == sorted([3, *logged(tmp_path / "straight")])  # a stop logs its last one
    assert trainer.run()["iteration"] == 6  # finished: nothing more to do

    # Ctrl-C during the second step stops after it (latest.pt written); run() goes on from there
    stopped = Trainer(load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / 'stopped'}"]))
    real_step, calls = stopped.step, []

    def interrupted_step(*args):
        calls.append(1)
        result = real_step(*args)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(stopped, "step", interrupted_step)
    with pytest.raises(TrainingStopped, match="at iteration 2"):
        stopped.run()
    assert stopped.run()["iteration"] == 6
    assert same_weights(tmp_path / "stopped")

    # after an error the state in memory is not trusted: a new Trainer resumes from disk
    broken = Trainer(load_train_config(write_config(tmp_path, synth), [f"work_dir={tmp_path / 'broken'}"]))
    monkeypatch.setattr(broken, "step", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        broken.run()
    with pytest.raises(TrainingError, match="resume='auto'"):
        broken.run()
