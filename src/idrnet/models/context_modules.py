"""Multi-scale context modules: ASPP (DeepLabV3) and the pyramid pooling module (PSPNet)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InputError
from .layers import AdaptiveAvgPool, conv_bn_relu


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: parallel dilated branches plus a global-pooling branch."""

    def __init__(
        self, in_channels: int, out_channels: int, dilations: Sequence[int] = (1, 12, 24, 36), align_corners: bool = False
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.parallel_branches = nn.ModuleList(
            conv_bn_relu(in_channels, out_channels, 1 if d == 1 else 3, dilation=d) for d in dilations
        )
        self.global_branch = nn.Sequential(AdaptiveAvgPool(1), *conv_bn_relu(in_channels, out_channels))
        self.bottleneck = conv_bn_relu(out_channels * (len(dilations) + 1), out_channels, 3)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.parallel_branches]
        pooled = self.global_branch(x)
        outputs.append(F.interpolate(pooled, size=x.shape[2:], mode="bilinear", align_corners=self.align_corners))
        return self.bottleneck(torch.cat(outputs, dim=1))


class PyramidPooling(nn.Module):
    """Pyramid pooling module: pooled branches at several grid sizes, concatenated with the input."""

    def __init__(
        self, in_channels: int, out_channels: int, pool_scales: Sequence[int] = (1, 2, 3, 6), align_corners: bool = False
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.branches = nn.ModuleList(
            nn.Sequential(AdaptiveAvgPool(s), *conv_bn_relu(in_channels, out_channels)) for s in pool_scales
        )
        self.bottleneck = conv_bn_relu(in_channels + out_channels * len(pool_scales), out_channels, 3)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = [x]
        for branch in self.branches:
            levels.append(
                F.interpolate(branch(x), size=x.shape[2:], mode="bilinear", align_corners=self.align_corners)
            )
        return self.bottleneck(torch.cat(levels, dim=1))


def build_context_module(
    kind: str, in_channels: int, out_channels: int, dilations: Sequence[int], pool_scales: Sequence[int], align_corners: bool
) -> nn.Module:
    """ASPP for ``"aspp"``, pyramid pooling for ``"ppm"``."""
    if kind == "aspp":
        return ASPP(in_channels, out_channels, dilations, align_corners)
    if kind == "ppm":
        return PyramidPooling(in_channels, out_channels, pool_scales, align_corners)
    raise InputError(f"unknown context module {kind!r}: expected 'aspp' or 'ppm'")
