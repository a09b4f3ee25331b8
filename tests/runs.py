"""Shared helpers of the run-level tests: a synthetic dataset, a tiny training config, the CLI's error text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from idrnet.cli.main import main as cli
from idrnet.data.synth import write_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]


def make_dataset(root: Path, train: int = 4, val: int = 2, size: int = 32, **spec) -> Path:
    write_synthetic_dataset(root, train, val, size, seed=0, progress=False)
    if spec:
        data = yaml.safe_load((root / "dataset.yaml").read_text())
        data.update(spec)
        (root / "dataset.yaml").write_text(yaml.safe_dump(data))
    return root


def write_config(tmp_path: Path, data_root: Path, name: str = "train.yaml", **extra) -> Path:
    cfg = {
        "model": {"num_classes": 11, "backbone": {"name": "resnet18v1c", "base_width": 4},
                  "head": {"type": "idrnet", "feats_channels": 16, "transform_channels": 8},
                  "auxiliary": {"channels": 16}},
        "data": {"root": str(data_root), "scale": [64, 32], "crop": [32, 32], "num_workers": 0},
        "iterations": 2, "batch_size": 2, "val_interval": 100, "checkpoint_interval": 100, "log_interval": 1,
        "work_dir": str(tmp_path / "run"), "device": "cpu",
    }
    cfg.update(extra)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def save_mask(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array.astype(np.uint8), mode="L").save(path)


def error_of(capsys, argv) -> str:
    code = cli(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 12, err
    return err
