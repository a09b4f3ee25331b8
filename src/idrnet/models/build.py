"""Build a :class:`Segmentor` from a :class:`ModelConfig`."""

from __future__ import annotations

import dataclasses

from ..errors import InputError
from .backbones import create_backbone
from .config import ModelConfig
from .heads import build_head
from .layers import auxiliary_head
from .segmentor import Segmentor


def build_model(config: ModelConfig | dict) -> Segmentor:
    """Backbone, decode head and auxiliary head as ``config`` describes (a :class:`ModelConfig`, or the
    dict a model YAML holds), randomly initialised (apart from the backbone's ImageNet weights when
    ``config.backbone.pretrained`` asks for them)."""
    if isinstance(config, dict):
        from .config_io import model_config_from_dict

        config = model_config_from_dict(config, "the model config dict")
    if not isinstance(config, ModelConfig):
        raise InputError(f"build_model builds from a ModelConfig; got {type(config).__name__} {str(config)[:60]!r}: "
                         "for a zoo name, a file or another library's config use idrnet.create_model(...)")
    if config.num_classes is None:
        raise InputError("num_classes is not set: give ModelConfig(num_classes=…), or train the config on a "
                         "dataset (idrnet train fills it in from the data)")
    _check_values(config)
    baseline = getattr(config.head, "baseline", None)
    if not config.idrnet and baseline is not None:  # idrnet: false on an IDRNet head: build what it extends
        config = dataclasses.replace(config, head=baseline())
    bb = config.backbone
    extra = dict(bb.options)
    if bb.base_width != 64:
        extra["base_width"] = bb.base_width
    backbone = create_backbone(bb.name, output_stride=bb.output_stride, pretrained=bb.pretrained, **extra)
    channels = list(backbone.channels)
    head = build_head(config.head, channels, config.num_classes, config.align_corners)
    aux = None
    if config.auxiliary is not None:
        a = config.auxiliary
        aux = auxiliary_head(channels[2], a.channels, config.num_classes, a.dropout)
    return Segmentor(backbone, head, aux, config)


def _check_values(config: ModelConfig) -> None:
    """Dropout probabilities in [0, 1), positive channel counts and non-negative loss weights in the head
    and auxiliary configs, named by their key (a bad value would otherwise fail deep inside a layer's
    constructor, or train against the loss)."""
    if config.num_classes < 2:
        raise InputError(f"model.num_classes: expected at least 2 (background counts as a class; the losses are "
                         f"cross-entropies over the classes, zero for one), got {config.num_classes}")
    if config.backbone.base_width < 1:
        raise InputError(f"model.backbone.base_width: expected a positive width, got {config.backbone.base_width}")
    for section, part in (("head", config.head), ("auxiliary", config.auxiliary)):
        for f in dataclasses.fields(part) if part is not None else ():
            value = getattr(part, f.name)
            if f.name.endswith("dropout") and not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise InputError(f"model.{section}.{f.name}: expected a probability in [0, 1), got {value!r}")
            if f.name.endswith("channels") and isinstance(value, int) and value < 1:
                raise InputError(f"model.{section}.{f.name}: expected a positive number of channels, got {value}")
            if f.name.endswith("weight") and isinstance(value, (int, float)) and not 0 <= value < float("inf"):
                raise InputError(f"model.{section}.{f.name}: expected a loss weight ≥ 0, got {value}")
