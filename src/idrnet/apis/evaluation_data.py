"""What an evaluation (test, compare, robustness) reads: a training config's data section, or a custom
dataset folder given as it is, whose images are resized at test time as the models were trained."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..data.config import DataConfig
from ..data.description import DataDescription
from ..errors import InputError
from ..file_errors import run_folder_hint


def dataset_folder(data: str | os.PathLike) -> Path | None:
    """The custom dataset folder ``data`` names (the folder holding dataset.yaml, or that file), else None."""
    path = Path(data)
    if path.is_file() and path.name == "dataset.yaml":
        return path.parent
    return path if path.is_dir() and (path / "dataset.yaml").is_file() else None


def not_a_dataset_folder(data: str | os.PathLike) -> InputError:
    """The error for a folder given as the data that holds no dataset.yaml."""
    return InputError(f"{data} is a folder without a dataset.yaml; expected a custom dataset folder (images/, "
                      f"masks/ and dataset.yaml: docs/datasets.md) or a training config{run_folder_hint(Path(data), 'config')}")


def evaluation_data(data: str | os.PathLike, overrides: Sequence[str] = (),
                    descriptions: Sequence[DataDescription | None] = ()) -> tuple[DataConfig, int]:
    """The data config and seed to evaluate on. A training config gives its own (with ``overrides``). A
    custom dataset folder gets the test-time resize its models were trained with (``descriptions``: what
    each model stores), which must be one; ``overrides`` may set ``data.*`` keys (``data.val_split=test``)."""
    from ..engine.config import load_train_config

    root = dataset_folder(data)
    if root is None and Path(data).is_dir():
        raise not_a_dataset_folder(data)
    if root is None:
        config = load_train_config(data, list(overrides))
        return config.data, config.seed
    return folder_data(root, overrides, descriptions), 0


def folder_data(root: Path, overrides: Sequence[str] = (),
                descriptions: Sequence[DataDescription | None] = ()) -> DataConfig:
    """The data config of a custom dataset folder (see :func:`evaluation_data`)."""
    from ..config import from_dict
    from ..engine.config import parse_override

    fields: dict = {"root": str(root), "type": "custom"}
    for item in overrides:
        key, value = parse_override(item)
        if not key.startswith("data.") or "." in key[5:]:
            raise InputError(f"--set {item}: with a dataset folder as the data only data.* keys apply "
                             "(data.val_split, data.test_scale, …)")
        fields[key[5:]] = value
    if "test_scale" not in fields:
        resizes = {(tuple(d.test_scale), d.keep_ratio) for d in descriptions if d is not None and d.test_scale}
        if not resizes:
            raise InputError(f"{root} is a dataset folder and the model records no test-time resize (its training "
                             f"size): pass --set data.test_scale=[LONG,SHORT], e.g. [512,512], or a training config "
                             "whose data section points at the folder")
        if len(resizes) > 1:
            shown = " and ".join(f"[{s[0]}, {s[1]}]" for s, _ in sorted(resizes))
            raise InputError(f"the models were trained at different sizes (test-time resize {shown}); a paired "
                             f"comparison resizes both alike: choose one with --set data.test_scale=[LONG,SHORT]")
        (scale, keep_ratio), = resizes
        if not keep_ratio:  # the official LIP/CIHP recipes stretch; a data config cannot say so
            raise InputError(f"the model resizes test images to {list(scale)} without keeping their aspect ratio; give "
                             "a training config with the recipe it was trained with (data.recipe)")
        fields["test_scale"] = list(scale)
    config = from_dict(DataConfig, fields, where=f"{root} (as the data)")
    if config.test_scale is not None and min(config.test_scale) <= 0:
        raise InputError(f"data.test_scale: expected two positive sizes, got {list(config.test_scale)}")
    return config
