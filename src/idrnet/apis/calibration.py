"""Calibration images from any source a user names: a folder of images, a custom dataset folder, or a
training YAML (its training split). Here rather than in :mod:`idrnet.deploy.calibration` because
training configs belong to the engine, which the deploy layer does not import."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..deploy.calibration import DEFAULT_CALIBRATION_IMAGES, folder_images, sample_files


def training_split_images(path: Path) -> list[Path]:
    """The training split's images of a training YAML (calibrating on the test split would tune the
    quantiser to the very images it is judged on)."""
    from ..config import ConfigError
    from ..data.build import build_split
    from ..engine.config import load_train_config

    try:
        config = load_train_config(path, [])
    except ConfigError as err:
        raise InputError(f"calibration={path}: expected a training YAML with a data section ({err})") from None
    dataset = build_split(config.data, config.data.train_split, train=False, seed=config.seed)
    return [s.image for s in dataset.samples]


def calibration_files(source: str | os.PathLike, count: int = DEFAULT_CALIBRATION_IMAGES, seed: int = 0) -> list[Path]:
    """``count`` image files drawn from ``source`` with a seeded generator: the same arguments give the
    same files in the same order."""
    if count < 1:
        raise InputError(f"calibration_images={count}: expected at least 1")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"calibration={path} does not exist (expected a folder of images or a training YAML)")
    if path.is_dir():
        files = folder_images(path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        files = training_split_images(path)
    else:
        raise InputError(f"calibration={path}: expected a folder of images or a training YAML, not a {path.suffix or 'plain'} file")
    if not files:
        raise FileNotFoundError(f"calibration={path}: no images found")
    return sample_files(files, count, seed)


def accelerate_for_dataset(model, precision: str, backend: str, calibration: str | os.PathLike, dataset, device,
                           count: int = DEFAULT_CALIBRATION_IMAGES, seed: int = 0):
    """``model`` with ``precision`` on ``backend`` for evaluating ``dataset``: int8 calibrates on ``count``
    images of ``calibration`` (a folder or a training YAML, whose training split is used — never the split
    being evaluated), preprocessed by ``dataset``'s evaluation pipeline."""
    import numpy as np

    from ..deploy.calibration import calibration_batches
    from ..deploy.graph_model import GraphSegmentor
    from ..deploy.runtime import accelerate

    batches = None
    if precision == "int8" and not isinstance(model, GraphSegmentor):
        def preprocess(rgb: np.ndarray):
            return dataset.pipeline({"id": "calibration", "image": rgb}, np.random.default_rng(0))["image"].unsqueeze(0).to(device)

        batches = calibration_batches(calibration_files(calibration, count, seed), preprocess)
    return accelerate(model, precision, backend, batches, device)
