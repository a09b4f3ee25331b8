"""Pixel-wise cross-entropy of logits bilinearly resized to the label map's size."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx, once_differentiable

from ..errors import InputError


def upsampled_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int = -100,
    align_corners: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of ``logits`` ``(B, K, h, w)`` resized (bilinear, float32) to ``targets`` ``(B, H, W)``.

    Same values as ``F.cross_entropy(F.interpolate(logits, ...), targets)`` (to float32 rounding),
    computed on a channels-last copy: the resize then runs over contiguous class vectors and the
    softmax reduces a contiguous last dimension, which on CPU takes about half the time of reducing
    the strided class dimension of the full-resolution NCHW tensor. The mean and sum form their
    gradient in the forward pass (see :func:`upsampled_cross_entropy_with_pixels`).
    ``reduction="none"`` returns ``(B, H, W)``, 0 at ignored pixels. The mean over no labelled pixel
    is 0 with a zero gradient (``F.cross_entropy`` gives NaN), so an all-ignore crop cannot poison a
    training step. A target outside ``[0, K)`` that is not ``ignore_index`` raises ``ValueError``.
    """
    if reduction not in ("mean", "sum", "none"):
        raise InputError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    differentiable = logits.requires_grad and torch.is_grad_enabled()
    if reduction == "mean":
        return upsampled_cross_entropy_with_pixels(logits, targets, ignore_index, align_corners)[0]
    if reduction == "sum" and differentiable:
        return _ResizedCrossEntropySum.apply(logits.float(), targets, ignore_index, align_corners)[0]
    if differentiable:  # per-pixel losses with a gradient: plain autograd
        scores = _resized_scores(logits.float(), targets.shape[-2:], align_corners)
        losses = F.cross_entropy(scores, targets.reshape(-1), ignore_index=ignore_index, reduction="none")
        return losses.view(targets.shape)
    with torch.no_grad():
        _, losses, _, _ = _resized_softmax_losses(logits.float(), targets, ignore_index, align_corners)
    return losses.sum() if reduction == "sum" else losses.view(targets.shape)


def upsampled_cross_entropy_with_pixels(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100, align_corners: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean :func:`upsampled_cross_entropy` and, detached, the per-pixel losses ``(B, H, W)`` it
    averages (0 at ignored pixels), from one full-resolution softmax.

    The gradient is formed in the forward pass (softmax minus one-hot, the softmax tensor reused in
    place) and only resized back in the backward, so no full-resolution log-softmax, zero-filled
    gradient or log-softmax backward is materialised: three fewer passes over a ``B·H·W × K`` tensor
    per loss, the largest tensors of a training step.
    """
    total, count, pixels = _ResizedCrossEntropySum.apply(logits.float(), targets, ignore_index, align_corners)
    return total / count.clamp_min(1).to(total.dtype), pixels


class _ResizedCrossEntropySum(torch.autograd.Function):
    """Sum over labelled pixels of the cross-entropy of bilinearly resized logits, the labelled-pixel
    count and the per-pixel losses (the last two not differentiable)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, logits: torch.Tensor, targets: torch.Tensor, ignore_index: int, align_corners: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        probs, losses, labelled, index = _resized_softmax_losses(logits, targets, ignore_index, align_corners)
        # d(sum of losses)/d(scores) = softmax − one-hot on labelled rows, 0 on the others.
        # (one target per row: a plain scatter, deterministic on every device)
        probs.scatter_(1, index, probs.gather(1, index) - 1)
        probs.index_fill_(0, (~labelled).nonzero().squeeze(1), 0)
        ctx.save_for_backward(probs)
        ctx.logits_shape = tuple(logits.shape)
        ctx.size = tuple(targets.shape[-2:])
        ctx.align_corners = align_corners
        count, pixels = labelled.sum(), losses.view(targets.shape)
        ctx.mark_non_differentiable(count, pixels)
        return losses.sum(), count, pixels

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_total: torch.Tensor, *_: torch.Tensor) -> tuple:  # type: ignore[override]
        (grad_scores,) = ctx.saved_tensors
        b, k, h, w = ctx.logits_shape
        height, width = ctx.size
        grad_up = grad_scores.view(b, height, width, k).permute(0, 3, 1, 2)
        grad_logits = torch.ops.aten.upsample_bilinear2d_backward(
            grad_up, [height, width], [b, k, h, w], ctx.align_corners, None, None
        )
        return grad_logits * grad_total, None, None, None


def _resized_softmax_losses(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int, align_corners: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax of the resized logits ``(B·H·W, K)``, per-pixel losses ``(B·H·W,)`` (0 where unlabelled),
    the labelled-pixel mask and the target index ``(B·H·W, 1)`` (0 where unlabelled). One arithmetic
    for every caller, so two passes over the same logits give bit-identical losses."""
    k = logits.shape[1]
    scores = _resized_scores(logits, targets.shape[-2:], align_corners)
    flat = targets.reshape(-1).long()
    labelled = flat != ignore_index
    out_of_range = labelled & ((flat < 0) | (flat >= k))
    if bool(out_of_range.any()):
        bad = flat[out_of_range][0].item()
        raise InputError(f"target class {bad} is out of range for {k} classes (ignore_index {ignore_index})")
    index = torch.where(labelled, flat, torch.zeros_like(flat)).unsqueeze(1)
    probs = torch.softmax(scores, dim=1)
    target_probs = probs.gather(1, index).squeeze(1)
    losses = -target_probs.log()
    # A target probability below the smallest normal float has lost its digits (or is 0): those
    # rows get the log-sum-exp form, which is exact for any logit gap.
    lost = (target_probs < torch.finfo(probs.dtype).tiny).nonzero().squeeze(1)
    if lost.numel():
        rows = scores.index_select(0, lost)
        losses[lost] = rows.logsumexp(dim=1) - rows.gather(1, index[lost]).squeeze(1)
    return probs, losses.masked_fill_(~labelled, 0), labelled, index


def _resized_scores(logits: torch.Tensor, size: Sequence[int], align_corners: bool) -> torch.Tensor:
    """``(B·H·W, K)``: the logits bilinearly resized to ``size`` on a channels-last copy, so each row
    (one pixel's class scores) is contiguous — a view of the resized tensor, not another copy."""
    up = F.interpolate(logits.contiguous(memory_format=torch.channels_last), size=tuple(size), mode="bilinear",
                       align_corners=align_corners)
    return up.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
