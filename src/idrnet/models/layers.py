"""Small building blocks shared by the heads."""

from __future__ import annotations

import torch.nn as nn


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 1,
    dilation: int = 1,
    inplace: bool = True,
) -> nn.Sequential:
    """Conv (no bias) → BatchNorm → ReLU, indexed 0/1/2 like the official checkpoints."""
    padding = 0 if kernel_size == 1 else dilation * (kernel_size // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=inplace),
    )


def classifier(in_channels: int, hidden_channels: int, num_classes: int, dropout: float) -> nn.Sequential:
    """1×1 conv-BN-ReLU, Dropout2d, 1×1 conv to class logits (IDRNet's stage decoders)."""
    return nn.Sequential(
        *conv_bn_relu(in_channels, hidden_channels, 1),
        nn.Dropout2d(dropout),
        nn.Conv2d(hidden_channels, num_classes, 1),
    )


def auxiliary_head(in_channels: int, hidden_channels: int, num_classes: int, dropout: float) -> nn.Sequential:
    """The auxiliary FCN head on the third backbone stage (3×3 conv-BN-ReLU, dropout, 1×1 conv)."""
    return nn.Sequential(
        *conv_bn_relu(in_channels, hidden_channels, 3),
        nn.Dropout2d(dropout),
        nn.Conv2d(hidden_channels, num_classes, 1),
    )
