"""Decode heads."""

from .baselines import DeepLabV3Head, FCNHead, PSPHead, UPerHead
from .idrnet import IDRNetHead, IDRNetTrainState

__all__ = ["DeepLabV3Head", "FCNHead", "IDRNetHead", "IDRNetTrainState", "PSPHead", "UPerHead"]
