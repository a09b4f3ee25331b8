"""DeepLabV3: atrous spatial pyramid pooling on the last backbone stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn as nn

from ..context_modules import ASPP
from .base import DecodeHead


@dataclass
class DeepLabV3HeadConfig:
    """ASPP with ``dilations`` into ``feats_channels``, dropout, 1×1 classifier."""

    type: Literal["deeplabv3"] = "deeplabv3"
    feats_channels: int = 512
    dropout: float = 0.1
    dilations: tuple[int, ...] = (1, 12, 24, 36)


class DeepLabV3Head(DecodeHead):
    """ASPP on the last stage, dropout, 1×1 classifier (DeepLabV3)."""

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        feats_channels: int = 512,
        dilations: Sequence[int] = (1, 12, 24, 36),
        dropout: float = 0.1,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.aspp_net = ASPP(in_channels[-1], feats_channels, dilations, align_corners)
        self.decoder = nn.Sequential(nn.Dropout2d(dropout), nn.Conv2d(feats_channels, num_classes, 1))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits at the last stage's resolution."""
        return self.decoder(self.aspp_net(features[-1]))
