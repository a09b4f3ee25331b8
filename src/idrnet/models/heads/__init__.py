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

# type → (config class, head class): the one list of heads. A new head is its module and one line here;
# the config loader, the checkpoint reader and the docs' list read it.
HEADS: dict[str, tuple[type, type[DecodeHead]]] = {
    "idrnet": (IDRNetHeadConfig, IDRNetHead),
    "fcn": (FCNHeadConfig, FCNHead),
    "pspnet": (PSPHeadConfig, PSPHead),
    "deeplabv3": (DeepLabV3HeadConfig, DeepLabV3Head),
    "upernet": (UPerHeadConfig, UPerHead),
    "ocrnet": (OCRNetHeadConfig, OCRNetHead),
}

# The config of any head, derived from HEADS; a mapping's ``type`` picks the alternative (the first,
# IDRNet, when it is absent).
HeadConfig = Union[tuple(config for config, _ in HEADS.values())]  # type: ignore[valid-type]


def build_head(config: HeadConfig, in_channels: Sequence[int], num_classes: int, align_corners: bool = False) -> DecodeHead:
    """The head ``config`` describes, on backbone stages with ``in_channels``."""
    return HEADS[config.type][1].from_config(config, in_channels, num_classes, align_corners)


__all__ = [
    "HEADS", "AuxiliaryLogits", "DecodeHead", "DeepLabV3Head", "DeepLabV3HeadConfig", "FCNHead", "FCNHeadConfig",
    "HeadConfig", "HeadOutputs", "IDRNetHead", "IDRNetHeadConfig", "IDRNetTrainState", "OCRNetHead", "OCRNetHeadConfig", "PSPHead", "PSPHeadConfig",
    "UPerHead", "UPerHeadConfig", "build_head",
]
