"""The plain decode heads IDRNet is compared against: FCN, PSPNet, DeepLabV3 and UPerNet."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ..context_modules import ASPP, PyramidPooling
from ..fpn import build_fpn_convs, fuse_pyramid
from ..layers import conv_bn_relu


class FCNHead(nn.Module):
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

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits at the last stage's resolution."""
        return self.decoder(features[-1])


class PSPHead(nn.Module):
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

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits at the last stage's resolution."""
        return self.decoder(self.ppm_net(features[-1]))


class DeepLabV3Head(nn.Module):
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

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits at the last stage's resolution."""
        return self.decoder(self.aspp_net(features[-1]))


class UPerHead(nn.Module):
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

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits at the first stage's resolution (1/4 of the input)."""
        top = self.ppm_net(features[-1])
        fused = fuse_pyramid(features[:-1], top, self.lateral_convs, self.fpn_convs, self.align_corners)
        return self.decoder(fused)
