"""The UPerNet feature pyramid: lateral 1×1 convs, top-down sum, 3×3 convs, concatenation at 1/4."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import conv_bn_relu


def build_fpn_convs(
    in_channels_list: Sequence[int], feats_channels: int, out_channels: int
) -> tuple[nn.ModuleList, nn.ModuleList]:
    """Lateral and output convs for all levels but the top one (which is a context module's output)."""
    lateral = nn.ModuleList(conv_bn_relu(c, feats_channels, 1, inplace=False) for c in in_channels_list[:-1])
    output = nn.ModuleList(
        conv_bn_relu(feats_channels, out_channels, 3, inplace=False) for _ in in_channels_list[:-1]
    )
    return lateral, output


class PyramidFusion:
    """Mixin of the heads with an UPerNet pyramid (``lateral_convs``, ``fpn_convs``, ``align_corners``).

    A method rather than a function taking the module lists: TorchScript can iterate a module list only
    as an attribute of the module being compiled.
    """

    lateral_convs: nn.ModuleList
    fpn_convs: nn.ModuleList
    align_corners: bool

    def fuse_pyramid(self, features: list[torch.Tensor], top: torch.Tensor) -> torch.Tensor:
        """Top-down FPN over ``features`` (fine to coarse) with ``top`` as the coarsest level.

        Returns every level upsampled to the finest resolution and concatenated along channels.
        """
        laterals: list[torch.Tensor] = []
        for i, conv in enumerate(self.lateral_convs):
            laterals.append(conv(features[i]))
        laterals.append(top)
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode="bilinear", align_corners=self.align_corners
            )
        outputs: list[torch.Tensor] = []
        for i, conv in enumerate(self.fpn_convs):
            outputs.append(conv(laterals[i]))
        outputs.append(laterals[-1])
        size = outputs[0].shape[2:]
        resized = [outputs[0]]
        for o in outputs[1:]:
            resized.append(F.interpolate(o, size=size, mode="bilinear", align_corners=self.align_corners))
        return torch.cat(resized, dim=1)
