"""Images for int8 calibration: a sample of the user's own data, chosen reproducibly."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.image_header import IMAGE_SUFFIXES
from ..errors import InputError

DEFAULT_CALIBRATION_IMAGES = 32


def folder_images(folder: Path) -> list[Path]:
    """Images of a custom dataset folder (its training split, or all of ``images/``), or of any folder
    (searched recursively)."""
    if (folder / "dataset.yaml").is_file():
        images = folder / "images"
        split = images / "train" if (images / "train").is_dir() else images
        return sorted(p for p in split.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def sample_files(files: list[Path], count: int = DEFAULT_CALIBRATION_IMAGES, seed: int = 0) -> list[Path]:
    """``count`` of ``files`` drawn with a seeded generator: the same arguments give the same files in the
    same order (all of them when there are fewer)."""
    if count < 1:
        raise InputError(f"calibration_images={count}: expected at least 1")
    files = sorted(files)
    chosen = np.random.default_rng(seed).choice(len(files), size=min(count, len(files)), replace=False)
    return [files[i] for i in sorted(chosen)]


def calibration_batches(files: list[Path], preprocess: Callable[[np.ndarray], torch.Tensor]) -> list[torch.Tensor]:
    """Each file read as RGB and turned into the model's input ``(1, 3, h, w)`` by ``preprocess`` (the
    same normalisation and test-time resize the served images get). Calibration is a sample: a file that
    cannot be read is left out (said on stderr), and only none at all is an error."""
    import sys

    from ..data.labels import BadSampleError, read_image

    batches, unread = [], []
    for f in files:
        try:
            rgb = read_image(Path(f))
        except BadSampleError as err:
            unread.append(str(err))
            continue
        batches.append(preprocess(rgb))
    if unread and not batches:
        raise InputError(f"none of the {len(files)} calibration image(s) could be read (first: {unread[0]})")
    if unread:
        print(f"note: {len(unread)} of {len(files)} calibration image(s) could not be read and were left out "
              f"(first: {unread[0]})", file=sys.stderr)
    return batches


def random_batches(count: int, size: tuple[int, int], seed: int = 0) -> list[torch.Tensor]:
    """Normalised noise images, for timing int8 graphs when no data is at hand (accuracy meaningless)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, *size, generator=generator) for _ in range(count)]
