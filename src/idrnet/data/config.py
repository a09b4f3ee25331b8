"""Typed description of the data a run trains and validates on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Which dataset and how to load it. ``type`` is ``custom`` (a folder with dataset.yaml) or a
    benchmark name; ``recipe`` names an official pipeline, else ``scale``/``crop``/``ratio_range``."""

    root: str
    type: str = "custom"
    train_split: str = "train"
    val_split: str = "val"
    recipe: str | None = None
    scale: tuple[int, int] = (512, 128)
    crop: tuple[int, int] = (128, 128)
    ratio_range: tuple[float, float] = (0.5, 2.0)
    test_scale: tuple[int, int] | None = None
    num_workers: int = 2
    skip_bad_samples: bool = False
