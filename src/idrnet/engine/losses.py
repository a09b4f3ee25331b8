"""Training losses, computed outside the model's forward."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError
from ..models.pixel_loss import (
    upsampled_cross_entropy,
    upsampled_cross_entropy_with_pixels,
)
from ..models.segmentor import Segmentor, TrainOutputs


def training_losses(
    model: Segmentor,
    images: torch.Tensor,
    targets: torch.Tensor,
    deleted_classes: torch.Tensor | None = None,
    ignore_index: int | None = None,
) -> dict[str, torch.Tensor]:
    """Run the training forward and return each weighted loss term plus ``"total"``.

    Terms: ``main`` (weight 1), then every auxiliary output under its name with its weight — ``aux``
    (the auxiliary FCN head, ``config.auxiliary.weight``) and the decode head's own (IDRNet's
    ``stage1``, ``stage1_loss_weight``); each is a pixel-averaged cross-entropy at the input's size,
    zero (with zero gradient) when no pixel is labelled. The decode head's statistics hook runs after
    the forward: for IDRNet the deletion diagnostics and the relation/representation updates
    (``deleted_classes`` forces the deleted class of each image).
    ``targets``: ``(B, H, W)`` integer labels; ``ignore_index`` (default ``model.ignore_index``, which
    the trainer takes from the dataset) marks unlabelled pixels.
    """
    if targets.dim() != 3 or targets.shape[-2:] != images.shape[-2:]:
        raise InputError(f"targets must be (B, H, W) matching images {tuple(images.shape)}, got {tuple(targets.shape)}")
    return loss_terms(model, model.forward_train(images), targets, deleted_classes, ignore_index)


def loss_terms(
    model: Segmentor,
    outputs: TrainOutputs,
    targets: torch.Tensor,
    deleted_classes: torch.Tensor | None = None,
    ignore_index: int | None = None,
) -> dict[str, torch.Tensor]:
    """The weighted loss terms of a training forward that already ran (``outputs = model.forward_train(
    images)``), after the head's statistics hook — for adding IDRNet's terms to a loss of one's own
    computed on ``outputs.logits`` (see :func:`training_losses`)."""
    targets = targets.long()
    ignore = model.ignore_index if ignore_index is None else ignore_index
    ac = model.align_corners
    main, main_pixels = upsampled_cross_entropy_with_pixels(outputs.logits, targets, ignore, ac)
    options: dict[str, Any] = {} if deleted_classes is None else {"deleted_classes": deleted_classes}
    # The head may reuse the main loss's per-pixel values (IDRNet's deletion anchor) instead of
    # recomputing them at full resolution.
    model.decode_head.update_statistics(outputs.head_state, targets, ignore,
                                        main_pixel_losses=(outputs.logits, main_pixels), **options)
    losses: dict[str, torch.Tensor] = {}
    for name, aux in outputs.auxiliary.items():
        losses[name] = aux.weight * upsampled_cross_entropy(aux.logits, targets, ignore, ac)
    losses["main"] = main
    losses["total"] = sum(losses.values())
    return losses


def training_loss(model: Segmentor, images: torch.Tensor, targets: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """The scalar training loss of one batch (see :func:`training_losses`)."""
    return training_losses(model, images, targets, ignore_index=ignore_index)["total"]
