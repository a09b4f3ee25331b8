"""Build a :class:`Segmentor` from a :class:`ModelConfig`."""

from __future__ import annotations

import dataclasses

from ..errors import InputError
from .backbones import create_backbone
from .config import ModelConfig
from .heads import build_head
from .layers import auxiliary_head
from .segmentor import Segmentor


def build_model(config: ModelConfig) -> Segmentor:
    """Backbone, decode head and auxiliary head as ``config`` describes, randomly initialised
    (apart from the backbone's ImageNet weights when ``config.backbone.pretrained`` asks for them)."""
    if config.num_classes is None:
        raise InputError("num_classes is not set: give ModelConfig(num_classes=…), or train the config on a "
                         "dataset (idrnet train fills it in from the data)")
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
