"""Attention block with conv-BN-ReLU projections: self-attention (IDRNet's context refiner) and
attention of pixels to other features (OCRNet's object-context block)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import conv_bn_relu


class SelfAttention(nn.Module):
    """Full spatial self-attention with conv-BN-ReLU projections.

    Same mathematics as the reference block (softmax(q·kᵀ/√T)·v, then an output projection) but
    computed with :func:`torch.nn.functional.scaled_dot_product_attention`, so memory-efficient
    kernels are used and the N×N attention matrix need not be materialised.
    """

    def __init__(self, in_channels: int, transform_channels: int, out_channels: int) -> None:
        super().__init__()
        self.key_project = nn.Sequential(
            conv_bn_relu(in_channels, transform_channels), conv_bn_relu(transform_channels, transform_channels)
        )
        self.query_project = nn.Sequential(
            conv_bn_relu(in_channels, transform_channels), conv_bn_relu(transform_channels, transform_channels)
        )
        self.value_project = conv_bn_relu(in_channels, transform_channels)
        self.out_project = conv_bn_relu(transform_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each pixel of ``x`` attends to every position of ``x``."""
        return self.attend(x, x)

    def attend(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Each pixel of ``x`` attends to the positions of ``context``."""
        b, _, h, w = x.shape
        # (B, 1, N, T), one head, contiguous (the fused CPU kernel needs unit stride in T, otherwise
        # PyTorch falls back to materialising the N×N matrix). SDPA's default scale 1/√T is the
        # reference's matmul_norm.
        # Three plain calls rather than a loop over the projections: TorchScript cannot iterate modules
        # paired with tensors.
        query = _tokens(self.query_project(x))
        key = _tokens(self.key_project(context))
        value = _tokens(self.value_project(context))
        context = F.scaled_dot_product_attention(query, key, value)
        context = context.squeeze(1).transpose(1, 2).reshape(b, -1, h, w)
        return self.out_project(context)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 1, H·W, C), contiguous."""
    return x.flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
