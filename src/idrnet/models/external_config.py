"""Config lines of other libraries' models (``{type: smp, arch: Unet, …}``) as data: the typed configs,
and the record a checkpoint stores to rebuild them. Building them is :mod:`idrnet.dropin.external`'s job;
they live here, beside our own model config, because checkpoints read and write them."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Literal

import torch.nn as nn

from .config import InferenceConfig


@dataclass(kw_only=True)
class SMPModelConfig:
    """A segmentation_models_pytorch model: ``getattr(smp, arch)(encoder_name=…, encoder_weights=…,
    classes=num_classes, **options)``; ``attach``: options of :func:`idrnet.attach`."""

    num_classes: int | None = None  # None: the dataset's (set by idrnet train)
    arch: str
    type: Literal["smp"] = "smp"
    encoder_name: str = "resnet34"
    encoder_weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    idrnet: bool = True
    attach: dict[str, Any] = field(default_factory=dict)
    ignore_index: int | None = None  # None: the dataset's, else IGNORE_INDEX
    inference: InferenceConfig = field(default_factory=InferenceConfig)


@dataclass(kw_only=True)
class TorchvisionModelConfig:
    """A torchvision segmentation model: ``torchvision.models.segmentation.<name>(weights=None,
    weights_backbone=…, num_classes=…, aux_loss=…, **options)``."""

    num_classes: int | None = None  # None: the dataset's (set by idrnet train)
    name: str
    type: Literal["torchvision"] = "torchvision"
    weights_backbone: str | None = None
    aux_loss: bool = True  # ignored by LR-ASPP, which has no auxiliary classifier
    options: dict[str, Any] = field(default_factory=dict)
    idrnet: bool = True
    attach: dict[str, Any] = field(default_factory=dict)
    ignore_index: int | None = None  # None: the dataset's, else IGNORE_INDEX
    inference: InferenceConfig = field(default_factory=InferenceConfig)


ExternalModelConfig = SMPModelConfig | TorchvisionModelConfig
LIBRARIES = {"smp": ("segmentation_models_pytorch", "smp"), "torchvision": ("torchvision", "")}


def library_of(config: ExternalModelConfig) -> tuple[str, str]:
    """(module name, installed version) of the library that builds ``config``."""
    module_name, extra = LIBRARIES[config.type]
    if extra:
        from ..optional import require

        module = require(module_name, f"a model of type {config.type}")
    else:
        module = importlib.import_module(module_name)
    return module_name, str(getattr(module, "__version__", "unknown"))


def external_record(model: nn.Module) -> dict[str, Any] | None:
    """What a checkpoint stores to rebuild a config-line model: library, version and the config."""
    from ..config import to_dict

    config = getattr(model, "external", None)
    if config is None:
        return None
    library, version = library_of(config)
    return {"library": library, "version": version, "config": to_dict(config)}


def external_from_record(record: dict[str, Any], where: str) -> ExternalModelConfig:
    """The config stored by :func:`external_record` (a different library version is allowed: the
    state dict must still fit, which loading checks). Pretrained-weight names are dropped: the file holds
    the weights, and reading a file must not download anything."""
    from ..config import from_dict

    config = from_dict(ExternalModelConfig, record["config"], where=where)
    if isinstance(config, SMPModelConfig):
        return dataclasses.replace(config, encoder_weights=None)
    return dataclasses.replace(config, weights_backbone=None)
