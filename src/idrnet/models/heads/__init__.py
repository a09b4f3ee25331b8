"""Decode heads, one family a module, each with its typed config; :data:`HEADS` maps ``type`` to both."""

from __future__ import annotations

from typing import Sequence, Union

from .base import AuxiliaryLogits, DecodeHead, HeadOutputs
from .deeplabv3 import DeepLabV3Head, DeepLabV3HeadConfig
from .fcn import FCNHead, FCNHeadConfig
from .idrnet import IDRNetHead, IDRNetHeadConfig, IDRNetTrainState
from .ocrnet import OCRNetHead, OCRNetHeadConfig
from .pspnet import PSPHead, PSPHeadConfig
from .upernet import UPerHead, UPerHeadConfig

# The config of any head; a mapping's ``type`` picks the alternative (IDRNet when it is absent).
HeadConfig = Union[IDRNetHeadConfig, FCNHeadConfig, PSPHeadConfig, DeepLabV3HeadConfig, UPerHeadConfig, OCRNetHeadConfig]

# type → (config class, head class). A new head is one module and one line here.
HEADS: dict[str, tuple[type, type[DecodeHead]]] = {
    "idrnet": (IDRNetHeadConfig, IDRNetHead),
    "fcn": (FCNHeadConfig, FCNHead),
    "pspnet": (PSPHeadConfig, PSPHead),
    "deeplabv3": (DeepLabV3HeadConfig, DeepLabV3Head),
    "upernet": (UPerHeadConfig, UPerHead),
    "ocrnet": (OCRNetHeadConfig, OCRNetHead),
}


def build_head(config: HeadConfig, in_channels: Sequence[int], num_classes: int, align_corners: bool = False) -> DecodeHead:
    """The head ``config`` describes, on backbone stages with ``in_channels``."""
    return HEADS[config.type][1].from_config(config, in_channels, num_classes, align_corners)


__all__ = [
    "HEADS", "AuxiliaryLogits", "DecodeHead", "DeepLabV3Head", "DeepLabV3HeadConfig", "FCNHead", "FCNHeadConfig",
    "HeadConfig", "HeadOutputs", "IDRNetHead", "IDRNetHeadConfig", "IDRNetTrainState", "OCRNetHead", "OCRNetHeadConfig", "PSPHead", "PSPHeadConfig",
    "UPerHead", "UPerHeadConfig", "build_head",
]
