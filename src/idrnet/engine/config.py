"""Training configs: YAML with at most one ``base``, validated into dataclasses, ``--set`` overrides."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..config import ConfigError, from_dict
from ..models.config import ModelConfig


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


@dataclass
class OptimConfig:
    """Optimiser and poly schedule (lr = (lr0 − min_lr)(1 − it/total)^power + min_lr, optional linear warm-up)."""

    type: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 5e-4
    no_decay_keywords: list[str] = field(default_factory=list)
    power: float = 0.9
    min_lr: float | None = None  # default: 1 % of lr (the official PolyScheduler)
    warmup_iters: int = 0
    warmup_ratio: float = 1e-6


@dataclass
class TrainConfig:
    """Everything a training run needs."""

    model: str | ModelConfig
    data: DataConfig
    optim: OptimConfig = field(default_factory=OptimConfig)
    iterations: int = 1000
    batch_size: int = 8  # total over all processes
    max_batch_per_process: int | None = None  # split each process's batch and accumulate gradients
    val_interval: int = 500
    checkpoint_interval: int = 500
    log_interval: int = 10
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    compile: bool = False  # torch.compile the backbone and heads' forward (keys and checkpoints unchanged)
    on_nan: Literal["stop", "skip"] = "stop"
    work_dir: str = "runs/default"
    init_checkpoint: str | None = None
    # ImageNet initialisation of the backbone: true = the official file for ResNet-V1c (open-mmlab),
    # timm's default tag otherwise; a string = a path/URL (ResNet-V1c) or a timm tag.
    pretrained_backbone: bool | str | None = None


def _set_path(data: dict, dotted: str, value: Any, where: str) -> None:
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {} if k not in node or node[k] is None else node[k]
            if not isinstance(node[k], dict):
                raise ConfigError(f"{where}: cannot set {dotted}: {k} is not a mapping")
        node = node[k]
    node[keys[-1]] = value


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_train_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a training config. ``base: other.yaml`` (one level, relative to the file) is merged under
    it; each override ``a.b=value`` is parsed as YAML (``optim.lr=0.02``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if "base" in data:
        base_path = path.parent / data.pop("base")
        base = yaml.safe_load(base_path.read_text()) or {}
        if "base" in base:
            raise ConfigError(f"{base_path}: a base config cannot have a base itself (one level only)")
        data = _merge(base, data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        _set_path(data, key.strip(), yaml.safe_load(value), f"--set {item}")
    config = from_dict(TrainConfig, data, where=str(path))
    if config.batch_size < 1 or config.iterations < 1:
        raise ConfigError(f"{path}: batch_size and iterations must be positive")
    return config
