"""Training losses, computed outside the model's forward."""

from __future__ import annotations

import torch

from ..models.pixel_loss import upsampled_cross_entropy
from ..models.segmentor import Segmentor


def _ce(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int, align_corners: bool) -> torch.Tensor:
    return upsampled_cross_entropy(logits, targets, ignore_index, align_corners)


def training_losses(
    model: Segmentor, images: torch.Tensor, targets: torch.Tensor, deleted_classes: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Run the training forward and return each weighted loss term plus ``"total"``.

    For IDRNet this also runs the deletion diagnostics and updates the model's relation statistics
    and class representations (``deleted_classes`` forces the deleted class of each image).
    ``targets``: ``(B, H, W)`` integer labels, ``model.ignore_index`` for unlabelled pixels.
    Weights: main/stage-2 1.0, stage-1 ``config.stage1_loss_weight`` (0.4), auxiliary
    ``config.auxiliary.weight`` (0.4); each term is a pixel-averaged cross-entropy at input size.
    """
    if targets.dim() != 3 or targets.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"targets must be (B, H, W) matching images {tuple(images.shape)}, got {tuple(targets.shape)}")
    targets = targets.long()
    out = model.forward_train(images)
    ignore, ac = model.ignore_index, model.align_corners
    if out.idrnet_state is not None:
        model.decode_head.update_statistics(out.idrnet_state, targets, ignore, deleted_classes)
    losses: dict[str, torch.Tensor] = {}
    if out.aux_logits is not None:
        losses["aux"] = model.config.auxiliary.weight * _ce(out.aux_logits, targets, ignore, ac)
    if out.stage1_logits is not None:
        losses["stage1"] = model.config.stage1_loss_weight * _ce(out.stage1_logits, targets, ignore, ac)
    losses["main"] = _ce(out.logits, targets, ignore, ac)
    losses["total"] = sum(losses.values())
    return losses


def training_loss(model: Segmentor, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The scalar training loss of one batch (see :func:`training_losses`)."""
    return training_losses(model, images, targets)["total"]
