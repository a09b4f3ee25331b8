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


def fuse_pyramid(
    features: Sequence[torch.Tensor],
    top: torch.Tensor,
    lateral_convs: nn.ModuleList,
    fpn_convs: nn.ModuleList,
    align_corners: bool,
) -> torch.Tensor:
    """Top-down FPN over ``features`` (fine to coarse) with ``top`` as the coarsest level.

    Returns every level upsampled to the finest resolution and concatenated along channels.
    """
    laterals = [conv(x) for conv, x in zip(lateral_convs, features)]
    laterals.append(top)
    for i in range(len(laterals) - 1, 0, -1):
        laterals[i - 1] = laterals[i - 1] + F.interpolate(
            laterals[i], size=laterals[i - 1].shape[2:], mode="bilinear", align_corners=align_corners
        )
    outputs = [conv(laterals[i]) for i, conv in enumerate(fpn_convs)]
    outputs.append(laterals[-1])
    size = outputs[0].shape[2:]
    outputs = [outputs[0]] + [
        F.interpolate(o, size=size, mode="bilinear", align_corners=align_corners) for o in outputs[1:]
    ]
    return torch.cat(outputs, dim=1)
