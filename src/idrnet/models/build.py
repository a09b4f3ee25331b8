"""Build a :class:`Segmentor` from a :class:`ModelConfig`."""

from __future__ import annotations

import torch.nn as nn

from .backbones import create_backbone
from .config import ModelConfig
from .heads import DeepLabV3Head, FCNHead, IDRNetHead, PSPHead, UPerHead
from .layers import auxiliary_head
from .segmentor import Segmentor


def build_model(config: ModelConfig) -> Segmentor:
    """Backbone, decode head and auxiliary head as ``config`` describes, randomly initialised
    (apart from the backbone's ImageNet weights when ``config.backbone.pretrained`` asks for them)."""
    bb = config.backbone
    extra = dict(bb.options)
    if bb.base_width != 64:
        extra["base_width"] = bb.base_width
    backbone = create_backbone(bb.name, output_stride=bb.output_stride, pretrained=bb.pretrained, **extra)
    channels = list(backbone.channels)
    k, h = config.num_classes, config.head
    ac = config.align_corners
    head: nn.Module
    if h.type == "idrnet":
        head = IDRNetHead(
            channels,
            k,
            feats_channels=h.feats_channels,
            transform_channels=h.transform_channels,
            context=h.context,
            dilations=h.dilations,
            pool_scales=h.pool_scales,
            context_refiner=h.context_refiner,
            fpn_channels=h.fpn_channels,
            stage1_on_features=h.stage1_on_features,
            dropout=h.dropout,
            relation_momentum=h.relation_momentum,
            memory_momentum=h.memory_momentum,
            align_corners=ac,
            intervention_updates_bn_stats=h.intervention_updates_bn_stats,
            learn_relations=h.learn_relations,
            use_dataset_representations=h.use_dataset_representations,
        )
    elif h.type == "fcn":
        head = FCNHead(channels, k, h.feats_channels, h.num_convs, h.dropout)
    elif h.type == "pspnet":
        head = PSPHead(channels, k, h.feats_channels, h.pool_scales, h.dropout, ac)
    elif h.type == "deeplabv3":
        head = DeepLabV3Head(channels, k, h.feats_channels, h.dilations, h.dropout, ac)
    elif h.type == "upernet":
        head = UPerHead(channels, k, h.feats_channels, h.pool_scales, h.dropout, ac)
    else:  # pragma: no cover - the config validator rejects other values
        raise ValueError(f"unknown head type {h.type!r}")
    aux = None
    if config.auxiliary is not None:
        a = config.auxiliary
        aux = auxiliary_head(channels[2], a.channels, k, a.dropout)
    return Segmentor(backbone, head, aux, config)
