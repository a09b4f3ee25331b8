"""UPerNet: pyramid pooling on the last stage and an FPN over all stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn as nn

from ..context_modules import PyramidPooling
from ..fpn import PyramidFusion, build_fpn_convs
from ..layers import conv_bn_relu
from .base import DecodeHead


@dataclass
class UPerHeadConfig:
    """Pyramid pooling at ``pool_scales``, FPN of ``feats_channels``, 3×3 fusion, dropout, classifier."""

    type: Literal["upernet"] = "upernet"
    feats_channels: int = 512
    dropout: float = 0.1
    pool_scales: tuple[int, ...] = (1, 2, 3, 6)


class UPerHead(DecodeHead, PyramidFusion):
    """UPerNet: pyramid pooling on the last stage, FPN over all stages, 3×3 fusion conv, classifier."""

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
        self.align_corners = align_corners
        self.ppm_net = PyramidPooling(in_channels[-1], feats_channels, pool_scales, align_corners)
        self.lateral_convs, self.fpn_convs = build_fpn_convs(list(in_channels), feats_channels, feats_channels)
        self.decoder = nn.Sequential(
            *conv_bn_relu(feats_channels * len(in_channels), feats_channels, 3),
            nn.Dropout2d(dropout),
            nn.Conv2d(feats_channels, num_classes, 1),
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits at the first stage's resolution (1/4 of the input)."""
        top = self.ppm_net(features[-1])
        fused = self.fuse_pyramid(features[:-1], top)
        return self.decoder(fused)
