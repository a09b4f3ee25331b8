"""Typed model configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

HeadType = Literal["idrnet", "fcn", "pspnet", "deeplabv3", "upernet"]


@dataclass
class BackboneConfig:
    """``name``: ``resnet{18,34,50,101,152}v1c``, an alias (``swin_large_384``, ``convnext_tiny``,
    ``hrnet_w18``, ``efficientnet_lite0`` …) or any timm model name. ``pretrained``: false, true
    (timm's default tag), a timm tag, or a path/URL to ImageNet weights (ResNet-V1c)."""

    name: str = "resnet50v1c"
    output_stride: int = 8
    pretrained: bool | str = False
    base_width: int = 64  # ResNet-V1c only: stage widths base·(1, 2, 4, 8); reduced for tiny test models
    options: dict[str, Any] = field(default_factory=dict)  # extra timm arguments (embed_dim, depths, drop_path_rate …)


@dataclass
class HeadConfig:
    """Decode head. Fields that a head type does not use are ignored by it."""

    type: HeadType = "idrnet"
    feats_channels: int = 512
    dropout: float = 0.1
    num_convs: int = 2  # fcn
    pool_scales: tuple[int, ...] = (1, 2, 3, 6)  # pspnet, upernet, idrnet context="ppm"
    dilations: tuple[int, ...] = (1, 12, 24, 36)  # deeplabv3, idrnet context="aspp"
    # IDRNet only:
    context: Literal["aspp", "ppm"] | None = None
    context_refiner: Literal["before", "after"] | None = None
    fpn_channels: int | None = None
    transform_channels: int = 256
    stage1_on_features: bool = False
    relation_momentum: float = 0.1
    memory_momentum: float = 0.1
    intervention_updates_bn_stats: bool = True
    # Ablations (not in the reference): keep the relation matrices at identity (no deletion
    # diagnostics), or keep the dataset-level class representations at zero (never updated).
    learn_relations: bool = True
    use_dataset_representations: bool = True


@dataclass
class AuxiliaryConfig:
    """Auxiliary FCN head on the third backbone stage, trained with weight ``weight``."""

    channels: int = 512
    dropout: float = 0.1
    weight: float = 0.4


@dataclass
class InferenceConfig:
    """How a model is evaluated: whole image or sliding window, softmax before resizing or not."""

    mode: Literal["whole", "slide"] = "whole"
    crop_size: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    probs_before_resize: bool = False


@dataclass
class ModelConfig:
    """Everything needed to build a segmentor."""

    num_classes: int
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    auxiliary: AuxiliaryConfig | None = field(default_factory=AuxiliaryConfig)
    ignore_index: int = 255
    align_corners: bool = False
    stage1_loss_weight: float = 0.4
    inference: InferenceConfig = field(default_factory=InferenceConfig)
