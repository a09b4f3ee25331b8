"""Model configs as YAML files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..atomic import write_text
from ..config import from_dict, to_dict
from ..config.yaml_file import load_yaml_file
from .config import ModelConfig


def load_model_config(path: str | os.PathLike) -> Any:
    """Read a YAML model config (ours, or a config line of another library with ``type: smp`` or
    ``type: torchvision``; a training config's ``model`` section works too); errors name the file
    and the offending key."""
    path = Path(path)
    return model_config_from_dict(load_yaml_file(path), str(path))


def model_config_from_dict(data: Any, where: str) -> Any:
    """A model config from the data a YAML model config holds (ours, ``type: smp``/``torchvision``, or a
    training config with a ``model`` section), checked; errors name ``where`` and the key."""
    if isinstance(data, dict) and "model" in data and "num_classes" not in data:
        data = data["model"]
    if isinstance(data, dict) and "type" in data:
        from .external_config import ExternalModelConfig

        return from_dict(ExternalModelConfig, data, where=where)
    return from_dict(ModelConfig, data, where=where)


def save_model_config(config: ModelConfig, path: str | os.PathLike) -> None:
    """Write ``config`` as YAML."""
    write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
