"""Training configs: YAML with at most one ``base``, validated into dataclasses, ``--set`` overrides."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..config import ConfigError, field_type, from_dict, is_text_type
from ..config.yaml_file import load_yaml_file
from ..data.config import DataConfig
from ..errors import InputError
from ..file_errors import not_a_file
from ..models.external_config import SMPModelConfig, TorchvisionModelConfig
from ..models.config import ModelConfig


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

    # a zoo name, our model config, or another library's model as a config line ({type: smp | torchvision, …})
    model: str | ModelConfig | SMPModelConfig | TorchvisionModelConfig
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
    # glibc: reuse freed host memory instead of returning it to the OS and faulting it in again every step
    keep_freed_memory: bool = True
    on_nan: Literal["stop", "skip"] = "stop"
    max_nan_skips: int = 10  # on_nan: skip fails once more steps than this were skipped in one run
    work_dir: str = "runs/default"
    # auto: continue from work_dir/latest.pt when the work dir holds a run of this config, else start
    # (what a requeued or restarted job needs; the same as --resume auto)
    resume: Literal["auto"] | None = None
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


def _read_yaml(path: Path) -> dict:
    if path.is_dir() and (path / "dataset.yaml").is_file():
        raise ConfigError(f"{path} is a dataset folder; expected a training config YAML whose data section points "
                          f"at it (data: {{root: {path}}}), such as a run's saved WORK_DIR/config.yaml")
    if not path.is_file():
        raise not_a_file(path, "config", "config")
    data = load_yaml_file(path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    if "classes" in data and not {"data", "model", "base"} & set(data):
        raise ConfigError(f"{path} is a dataset description (dataset.yaml), not a training config: give a training "
                          f"config YAML whose data section points at its folder (data: {{root: {path.parent}}}), "
                          "such as a run's saved WORK_DIR/config.yaml")
    return data


def parse_override(item: str) -> tuple[str, Any]:
    """``key=value`` from ``--set``: the value is taken literally for text fields (paths may hold
    ``#``, ``:`` or spaces), parsed as YAML for the others (``optim.lr=0.02``, ``data.crop=[64,64]``)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    key, text = (part.strip() for part in item.split("=", 1))
    if not key:
        raise ConfigError(f"--set {item!r}: expected key=value")
    tp = field_type(TrainConfig, key)
    if is_text_type(tp):
        if text in ("null", "~", "") and not (tp is str):
            return key, None  # an optional text field: null unsets it, as in YAML
        return key, text
    try:
        return key, yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or " ".join(str(err).split())
        hint = "; a '{', '[' or quote is not closed" if "<stream end>" in problem else ""
        raise ConfigError(f"--set {item!r}: the value {text!r} is not valid YAML: {problem}{hint}") from None


def load_train_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a training config. ``base: other.yaml`` (one level, relative to the file) is merged under
    it; each override ``a.b=value`` replaces one value (see :func:`parse_override`)."""
    path = Path(path)
    data = _read_yaml(path)
    if "base" in data:
        base_name = data.pop("base")
        if not isinstance(base_name, str):
            raise ConfigError(f"{path}: base: expected a file name, got {base_name!r}")
        base_path = path.parent / base_name
        if base_path.resolve() == path.resolve():
            raise ConfigError(f"{path}: base: names this file itself; base is another config that this one overrides")
        base = _read_yaml(base_path)
        if "base" in base:
            raise ConfigError(f"{base_path}: a base config cannot have a base itself (one level only)")
        data = _merge(base, data)
    for item in overrides:
        key, value = parse_override(item)
        _set_path(data, key, value, f"--set {item}")
    config = _expand_home(from_dict(TrainConfig, data, where=str(path)))
    validate_train_config(config, str(path))
    _check_relative_root(config, path)
    return config


def _expand_home(config: TrainConfig) -> TrainConfig:
    """``~/…`` in the config's paths as the home folder: written in a YAML file or a ``--set`` value, no
    shell expands it, and ``work_dir: ~/runs/x`` made a folder called ``~`` in the current one."""
    def home(value: Any) -> Any:
        return os.path.expanduser(value) if isinstance(value, str) and value.startswith("~") else value

    return dataclasses.replace(config, work_dir=home(config.work_dir), init_checkpoint=home(config.init_checkpoint),
                               pretrained_backbone=home(config.pretrained_backbone),
                               data=dataclasses.replace(config.data, root=home(config.data.root)))


def _check_relative_root(config: TrainConfig, path: Path) -> None:
    """A relative data.root is read from the current folder; one that is missing there but found beside
    the config (the config was written for its own folder) is an error saying which path to write."""
    root = Path(config.data.root)
    if root.is_absolute() or root.exists():
        return
    beside = path.parent / root
    if beside.is_dir():
        raise ConfigError(f"{path}: data.root {root}: no such folder here ({Path.cwd()}); relative paths are read from "
                          f"the current folder, and {beside} is the one beside the config: write data.root: "
                          f"{beside.resolve()}, or run from {path.parent.resolve()}")


def config_warnings(config: TrainConfig) -> list[str]:
    """Legal settings that are probably mistakes: the run proceeds, and the user is told why it may not
    do what was meant."""
    d, found = config.data, []
    if d.recipe is None:
        largest = max(d.scale) * d.ratio_range[1]  # the resize fits each image in scale × ratio (kept ratio)
        if max(d.crop) > largest:
            found.append(f"data.crop {list(d.crop)} is larger than any resized training image (at most {largest:g} "
                         f"pixels a side with data.scale {list(d.scale)} and data.ratio_range up to {d.ratio_range[1]:g}): "
                         "every sample is padded to the crop, costing memory and time for nothing")
    if config.optim.warmup_iters >= config.iterations:
        found.append(f"optim.warmup_iters ({config.optim.warmup_iters}) is not below iterations ({config.iterations}): "
                     "the whole run is warm-up, and the learning rate never reaches optim.lr")
    if d.val_split == d.train_split:
        found.append(f"data.val_split is the training split ({d.train_split!r}): the validation mIoU and "
                     "best.safetensors are then measured on the images the model learns from")
    return found


def validate_train_config(config: TrainConfig, where: str) -> None:
    """Value checks the types cannot express; each error names the key and the allowed range."""
    positive = {"batch_size": config.batch_size, "iterations": config.iterations, "val_interval": config.val_interval,
                "checkpoint_interval": config.checkpoint_interval, "log_interval": config.log_interval,
                "optim.lr": config.optim.lr, "max_nan_skips": config.max_nan_skips + 1}
    if config.max_batch_per_process is not None:
        positive["max_batch_per_process"] = config.max_batch_per_process
    for key, value in positive.items():
        if value <= 0:
            shown = config.max_nan_skips if key == "max_nan_skips" else value
            raise ConfigError(f"{where}: {key}: expected {'≥ 0' if key == 'max_nan_skips' else 'a positive value'}, got {shown}")
    o = config.optim
    if o.min_lr is not None and not 0 <= o.min_lr <= o.lr:
        raise ConfigError(f"{where}: optim.min_lr: expected 0 … optim.lr ({o.lr}), got {o.min_lr}")
    if o.weight_decay < 0 or o.momentum < 0 or o.warmup_iters < 0:
        raise ConfigError(f"{where}: optim.weight_decay, momentum and warmup_iters must not be negative")
    # 1 or more makes every step larger than the last: the loss diverges (momentum: 9 for 0.9, say)
    if o.momentum >= 1:
        raise ConfigError(f"{where}: optim.momentum: expected 0 ≤ momentum < 1 (typically 0.9), got {o.momentum}")
    if not all(0 <= b < 1 for b in o.betas):
        raise ConfigError(f"{where}: optim.betas: expected two values in 0 … 1 (below 1), such as [0.9, 0.999], "
                          f"got {list(o.betas)}")
    if not (math.isfinite(o.power) and o.power >= 0):
        raise ConfigError(f"{where}: optim.power: expected ≥ 0 (0: constant learning rate; the lr falls to min_lr "
                          f"as (1 − it/total)^power), got {o.power}")
    if not (math.isfinite(o.lr) and math.isfinite(o.warmup_ratio) and 0 <= o.warmup_ratio <= 1):
        raise ConfigError(f"{where}: optim.lr and optim.warmup_ratio: expected finite values, warmup_ratio in 0 … 1")
    if config.seed < 0:
        raise ConfigError(f"{where}: seed: expected a non-negative integer, got {config.seed}")
    d = config.data
    if d.type != "custom":
        from ..data.datasets.benchmarks import get_benchmark

        try:
            get_benchmark(d.type, also=("custom",))
        except InputError as err:
            raise ConfigError(f"{where}: data.type: {err} (custom: a folder with a dataset.yaml)") from None
    for key, pair in (("data.scale", d.scale), ("data.crop", d.crop), ("data.test_scale", d.test_scale or (1, 1))):
        if min(pair) <= 0:
            raise ConfigError(f"{where}: {key}: expected two positive sizes, got {list(pair)}")
    low, high = d.ratio_range
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise ConfigError(f"{where}: data.ratio_range: expected [low, high] with 0 < low ≤ high, got {[low, high]}")
    if config.data.num_workers < 0:
        raise ConfigError(f"{where}: data.num_workers: expected ≥ 0, got {config.data.num_workers}")
    if not config.work_dir.strip():
        raise ConfigError(f"{where}: work_dir: expected a folder name, got an empty string")
