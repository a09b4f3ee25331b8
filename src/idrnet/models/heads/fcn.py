"""FCN: stacked 3×3 convolutions on the last backbone stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn as nn

from ..layers import conv_bn_relu
from .base import DecodeHead


@dataclass
class FCNHeadConfig:
    """``num_convs`` 3×3 conv-BN-ReLU layers of ``feats_channels``, dropout, 1×1 classifier."""

    type: Literal["fcn"] = "fcn"
    feats_channels: int = 512
    dropout: float = 0.1
    num_convs: int = 2


class FCNHead(DecodeHead):
    """``num_convs`` 3×3 conv-BN-ReLU layers on the last stage, dropout, 1×1 classifier."""

    def __init__(
        self, in_channels: Sequence[int], num_classes: int, feats_channels: int = 512, num_convs: int = 2, dropout: float = 0.1
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels[-1]
        for _ in range(num_convs):
            layers += list(conv_bn_relu(channels, feats_channels, 3))
            channels = feats_channels
        layers += [nn.Dropout2d(dropout), nn.Conv2d(channels, num_classes, 1)]
        self.decoder = nn.Sequential(*layers)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits at the last stage's resolution."""
        return self.decoder(features[-1])
