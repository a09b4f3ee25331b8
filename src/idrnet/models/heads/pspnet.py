"""PSPNet: pyramid pooling on the last backbone stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn as nn

from ..context_modules import PyramidPooling
from .base import DecodeHead


@dataclass
class PSPHeadConfig:
    """Pyramid pooling at ``pool_scales`` into ``feats_channels``, dropout, 1×1 classifier."""

    type: Literal["pspnet"] = "pspnet"
    feats_channels: int = 512
    dropout: float = 0.1
    pool_scales: tuple[int, ...] = (1, 2, 3, 6)


class PSPHead(DecodeHead):
    """Pyramid pooling on the last stage, dropout, 1×1 classifier (PSPNet)."""

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        feats_channels: int = 512,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        dropout: float = 0.1,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.ppm_net = PyramidPooling(in_channels[-1], feats_channels, pool_scales, align_corners)
        self.decoder = nn.Sequential(nn.Dropout2d(dropout), nn.Conv2d(feats_channels, num_classes, 1))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits at the last stage's resolution."""
        return self.decoder(self.ppm_net(features[-1]))
