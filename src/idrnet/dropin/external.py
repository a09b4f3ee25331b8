"""Models of other libraries as config lines: ``model: {type: smp, arch: Unet, …, idrnet: true}``.

The same YAML with ``idrnet: false`` is the baseline (the library's model as it is), so the two are
compared with ``idrnet compare``. Checkpoints record the library, its version and the arguments.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Literal

import torch.nn as nn

from ..models.config import InferenceConfig


@dataclass
class SMPModelConfig:
    """A segmentation_models_pytorch model: ``getattr(smp, arch)(encoder_name=…, encoder_weights=…,
    classes=num_classes, **options)``; ``attach``: options of :func:`idrnet.attach`."""

    num_classes: int
    arch: str
    type: Literal["smp"] = "smp"
    encoder_name: str = "resnet34"
    encoder_weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    idrnet: bool = True
    attach: dict[str, Any] = field(default_factory=dict)
    ignore_index: int = 255
    inference: InferenceConfig = field(default_factory=InferenceConfig)


@dataclass
class TorchvisionModelConfig:
    """A torchvision segmentation model: ``torchvision.models.segmentation.<name>(weights=None,
    weights_backbone=…, num_classes=…, aux_loss=…, **options)``."""

    num_classes: int
    name: str
    type: Literal["torchvision"] = "torchvision"
    weights_backbone: str | None = None
    aux_loss: bool = True  # ignored by LR-ASPP, which has no auxiliary classifier
    options: dict[str, Any] = field(default_factory=dict)
    idrnet: bool = True
    attach: dict[str, Any] = field(default_factory=dict)
    ignore_index: int = 255
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


def build_library_model(config: ExternalModelConfig) -> nn.Module:
    """The library's model as the config describes it (random weights but for the named encoder/backbone)."""
    from ..config import ConfigError

    library_of(config)
    if isinstance(config, SMPModelConfig):
        import segmentation_models_pytorch as smp

        if not hasattr(smp, config.arch):
            raise ConfigError(f"model.arch: segmentation_models_pytorch has no architecture {config.arch!r}")
        return getattr(smp, config.arch)(encoder_name=config.encoder_name, encoder_weights=config.encoder_weights,
                                         classes=config.num_classes, **config.options)
    import torchvision.models.segmentation as seg

    builder = getattr(seg, config.name, None)
    if builder is None or not callable(builder) or config.name.startswith("_"):
        names = [n for n in dir(seg) if n.islower() and not n.startswith("_") and callable(getattr(seg, n))]
        raise ConfigError(f"model.name: torchvision has no segmentation model {config.name!r}; expected one of "
                          f"{', '.join(sorted(n for n in names if '_' in n))}")
    extra = {} if config.name.startswith("lraspp") else {"aux_loss": config.aux_loss}
    return builder(weights=None, weights_backbone=config.weights_backbone, num_classes=config.num_classes,
                   **extra, **config.options)


def build_external(config: ExternalModelConfig) -> nn.Module:
    """The model of a config line: attached to IDRNet (``idrnet: true``) or as the library builds it."""
    from .attach import attach
    from .wrapped import WrappedModel

    model = build_library_model(config)
    options = {"ignore_index": config.ignore_index, "inference": config.inference, **config.attach}
    if config.idrnet:
        attached = attach(model, config.num_classes, **options)
    else:
        attached = WrappedModel.of(model, config.num_classes, **options)
    attached.external = config
    return attached


def baseline_of(config: ExternalModelConfig) -> ExternalModelConfig:
    """The same config without IDRNet."""
    return dataclasses.replace(config, idrnet=False)


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
    state dict must still fit, which loading checks)."""
    from ..config import from_dict

    return from_dict(ExternalModelConfig, record["config"], where=where)
