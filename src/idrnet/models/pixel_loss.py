"""Pixel-wise cross-entropy of logits bilinearly resized to the label map's size."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def upsampled_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int = -100,
    align_corners: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of ``logits`` ``(B, K, h, w)`` resized (bilinear, float32) to ``targets`` ``(B, H, W)``.

    Same values as ``F.cross_entropy(F.interpolate(logits, ...), targets)``, computed on a
    channels-last copy: the resize then runs over contiguous class vectors and the softmax reduces a
    contiguous last dimension, which on CPU takes about half the time (and half the backward time) of
    reducing the strided class dimension of the full-resolution NCHW tensor.
    ``reduction="none"`` returns ``(B, H, W)``.
    """
    k = logits.shape[1]
    up = F.interpolate(logits.float().contiguous(memory_format=torch.channels_last), size=targets.shape[-2:],
                       mode="bilinear", align_corners=align_corners)
    losses = F.cross_entropy(up.permute(0, 2, 3, 1).reshape(-1, k), targets.reshape(-1),
                             ignore_index=ignore_index, reduction=reduction)
    return losses.view(targets.shape) if reduction == "none" else losses
