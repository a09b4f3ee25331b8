"""Small building blocks shared by the heads."""

from __future__ import annotations

import torch
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


class AdaptiveAvgPool(nn.Module):
    """``nn.AdaptiveAvgPool2d(output_size)`` (square) computed as two averaging matrices.

    Same bins (start ⌊i·n/s⌋, end ⌈(i+1)·n/s⌉) and result as PyTorch's, but built from ``arange``
    comparisons, so it exports to ONNX with dynamic height and width (the exporter's adaptive-pool
    decomposition bakes in the example size).
    """

    def __init__(self, output_size: int) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → ``(B, C, s, s)``."""
        if self.output_size == 1:
            return x.mean(dim=(2, 3), keepdim=True)
        rows = _bin_weights(x.shape[2], self.output_size, x)
        cols = _bin_weights(x.shape[3], self.output_size, x)
        return torch.einsum("bchw,ih,jw->bcij", x, rows, cols)


def _bin_weights(n: int, s: int, like: torch.Tensor) -> torch.Tensor:
    """``(s, n)``: row i averages positions [⌊i·n/s⌋, ⌈(i+1)·n/s⌉)."""
    i = torch.arange(s, device=like.device)
    start = torch.div(i * n, s, rounding_mode="floor")
    end = torch.div((i + 1) * n + s - 1, s, rounding_mode="floor")
    pos = torch.arange(n, device=like.device)
    inside = (pos.unsqueeze(0) >= start.unsqueeze(1)) & (pos.unsqueeze(0) < end.unsqueeze(1))
    return inside.to(like.dtype) / (end - start).unsqueeze(1).to(like.dtype)
