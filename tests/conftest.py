import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("IDRNET_OFFLINE", "1")
# `--backend auto` compiles on a CPU; the suite runs eager (and CLI subprocesses inherit this) so that a
# test pays no compile time unless it asks for compile. tests/test_precision.py checks the real default.
os.environ.setdefault("IDRNET_BACKEND", "eager")

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small generated dataset folder (11 classes, 32 px), one per test module."""
    from runs import make_dataset

    return make_dataset(tmp_path_factory.mktemp("hard"))


@pytest.fixture(scope="module")
def models():
    """The serving tests' two arms: a tiny FCN baseline and its IDRNet version, 5 classes, eval mode."""
    from idrnet import build_model
    from tiny import tiny_config

    torch.manual_seed(0)
    return build_model(tiny_config("fcn", num_classes=5)).eval(), build_model(tiny_config("idrnet", num_classes=5)).eval()


@pytest.fixture(scope="module")
def saved_models(models, tmp_path_factory):
    """The two arms of :func:`models` saved as .safetensors files."""
    from idrnet import save_checkpoint

    folder = tmp_path_factory.mktemp("served")
    a, b = models
    return save_checkpoint(a, folder / "fcn.safetensors"), save_checkpoint(b, folder / "idrnet.safetensors")


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny model trained for a few iterations on generated data (checkpoint + config)."""
    from idrnet.data.synth import write_synthetic_dataset
    from idrnet.engine.config import load_train_config
    from idrnet.engine.trainer import train
    import yaml

    root = tmp_path_factory.mktemp("evalsynth")
    data = write_synthetic_dataset(root / "data", 8, 3, 48, seed=0, progress=False)
    cfg = {"model": {"num_classes": 11, "backbone": {"name": "resnet18v1c", "base_width": 4},
                     "head": {"type": "idrnet", "feats_channels": 16, "transform_channels": 8},
                     "auxiliary": {"channels": 16}},
           "data": {"root": str(data), "scale": [96, 48], "crop": [48, 48], "num_workers": 0},
           "iterations": 4, "batch_size": 4, "val_interval": 4, "checkpoint_interval": 4, "log_interval": 2,
           "device": "cpu", "work_dir": str(root / "run")}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    train(load_train_config(path))
    return path, root / "run" / "final.safetensors", data


def pytest_sessionfinish(session, exitstatus):
    """A child process still alive when the tests end (a data worker that ignores SIGTERM, say) would
    make the interpreter's exit wait for it forever: name it, kill it and fail the run instead."""
    import multiprocessing

    left = multiprocessing.active_children()
    if left:
        names = ", ".join(f"{p.name} (pid {p.pid})" for p in left)
        print(f"\nconftest: ERROR: {len(left)} child process(es) outlived the tests: {names}; killed")
        for process in left:
            process.kill()
            process.join(5)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
