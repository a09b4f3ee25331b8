"""Images for int8 calibration: a sample of the user's own data, chosen reproducibly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
DEFAULT_CALIBRATION_IMAGES = 32


def _config_images(path: Path) -> list[Path]:
    """The training split's images of a training YAML (calibrating on the test split would tune the
    quantiser to the very images it is judged on)."""
    from ..config import ConfigError
    from ..data.build import build_split
    from ..engine.config import load_train_config

    try:
        config = load_train_config(path, [])
    except ConfigError as err:
        raise ValueError(f"--calibration {path}: expected a training YAML with a data section ({err})") from None
    dataset = build_split(config.data, config.data.train_split, train=False, seed=config.seed)
    return [s.image for s in dataset.samples]


def _folder_images(folder: Path) -> list[Path]:
    """Images of a custom dataset folder (its training split, or all of ``images/``), or of any folder
    (searched recursively)."""
    if (folder / "dataset.yaml").is_file():
        images = folder / "images"
        split = images / "train" if (images / "train").is_dir() else images
        return sorted(p for p in split.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def calibration_files(source: str | os.PathLike, count: int = DEFAULT_CALIBRATION_IMAGES, seed: int = 0) -> list[Path]:
    """``count`` image files drawn from ``source`` (a folder of images, a custom dataset folder, or a
    training YAML) with a seeded generator: the same arguments give the same files in the same order."""
    if count < 1:
        raise ValueError(f"--calibration-images {count}: expected at least 1")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"--calibration {path} does not exist (expected a folder of images or a training YAML)")
    if path.is_dir():
        files = _folder_images(path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        files = _config_images(path)
    else:
        raise ValueError(f"--calibration {path}: expected a folder of images or a training YAML, not a {path.suffix or 'plain'} file")
    if not files:
        raise FileNotFoundError(f"--calibration {path}: no images found")
    files = sorted(files)
    chosen = np.random.default_rng(seed).choice(len(files), size=min(count, len(files)), replace=False)
    return [files[i] for i in sorted(chosen)]


def calibration_batches(files: list[Path], preprocess: Callable[[np.ndarray], torch.Tensor]) -> list[torch.Tensor]:
    """Each file read as RGB and turned into the model's input ``(1, 3, h, w)`` by ``preprocess`` (the
    same normalisation and test-time resize the served images get)."""
    from ..data.labels import read_image

    return [preprocess(read_image(Path(f))) for f in files]


def random_batches(count: int, size: tuple[int, int], seed: int = 0) -> list[torch.Tensor]:
    """Normalised noise images, for timing int8 graphs when no data is at hand (accuracy meaningless)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, *size, generator=generator) for _ in range(count)]
