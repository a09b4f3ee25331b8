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
    images: torch.Tensor | None,
    targets: torch.Tensor,
    deleted_classes: torch.Tensor | None = None,
    ignore_index: int | None = None,
    *,
    outputs: TrainOutputs | None = None,
) -> dict[str, torch.Tensor]:
    """The one loss entry point: run the training forward and return each weighted loss term plus
    ``"total"`` (what to call ``backward`` on).

    Terms: ``main`` (weight 1), then every auxiliary output under its name with its weight — ``aux``
    (the auxiliary FCN head, ``config.auxiliary.weight``) and the decode head's own (IDRNet's
    ``stage1``, ``stage1_loss_weight``); each is a pixel-averaged cross-entropy at the input's size,
    zero (with zero gradient) when no pixel is labelled. The decode head's statistics hook runs after
    the forward: for IDRNet the deletion diagnostics and the relation/representation updates
    (``deleted_classes`` forces the deleted class of each image).
    ``targets``: ``(B, H, W)`` (or ``(B, 1, H, W)``) integer labels; ``ignore_index`` (default ``model.ignore_index``, which
    the trainer takes from the dataset) marks unlabelled pixels. ``outputs``: a training forward that
    already ran (``model.forward_train(images)``; ``images`` may then be None), for adding IDRNet's
    terms to a loss of one's own computed on ``outputs.logits``.
    """
    if not hasattr(model, "forward_train"):
        raise InputError(f"training_losses: {type(model).__name__} is not an idrnet model: build it with "
                         "idrnet.create_model, or give IDRNet to your own with model = idrnet.attach(model, num_classes)")
    if outputs is None:
        if images is None:
            raise InputError("training_losses: give the images, or the outputs of a training forward that already ran")
        targets = _check_batch(images, targets)
        outputs = model.forward_train(images)
    targets = _class_indices(targets)
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


def _check_batch(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Targets as ``(B, H, W)`` for ``images`` ``(B, C, H, W)``: a ``(B, 1, H, W)`` mask (as torchvision's
    transforms give one) is taken without its channel; other mismatches are named with the usual cause."""
    for name, value in (("images", images), ("targets", targets)):
        if not isinstance(value, torch.Tensor):
            raise InputError(f"{name}: expected a tensor ({'(B, 3, H, W) floats' if name == 'images' else '(B, H, W) class indices'}), "
                             f"got {type(value).__name__}")
    if not images.is_floating_point():
        raise InputError(f"images are {str(images.dtype).replace('torch.', '')}: the model takes float images, "
                         "normalised as it was trained (e.g. images.float() / 255, then the mean and std)")
    if targets.dim() == 4 and targets.shape[1] == 1:
        targets = targets[:, 0]
    if targets.dim() == 4 and targets.shape[1] > 1 and targets.shape[-2:] == images.shape[-2:]:
        raise InputError(f"targets of shape {tuple(targets.shape)} look one-hot (a channel per class); expected class "
                         "indices (B, H, W): pass targets.argmax(1)")
    if targets.dim() != 3 or targets.shape[-2:] != images.shape[-2:] or targets.shape[0] != images.shape[0]:
        raise InputError(f"targets must be (B, H, W) matching images {tuple(images.shape)}, got {tuple(targets.shape)}")
    return targets


def _class_indices(targets: torch.Tensor) -> torch.Tensor:
    """int64 labels; float targets must hold whole numbers (a mask passed through torchvision's ToTensor
    is divided by 255, and truncating it would make every pixel class 0)."""
    if targets.is_floating_point():
        fractional = targets != targets.round()  # NaN too
        if bool(fractional.any()):
            example = float(targets[fractional].flatten()[0])
            raise InputError(f"targets hold floats with fractional values (e.g. {example:.4g}); expected class "
                             "indices: a mask passed through torchvision's ToTensor is divided by 255; make it "
                             "with torch.as_tensor(np.asarray(mask), dtype=torch.long)")
    return targets.long()


def _deprecated(old: str, new: str) -> None:
    import warnings

    warnings.warn(f"idrnet.{old} (idrnet 0.1) is deprecated, removed in 0.3: use {new}", DeprecationWarning, stacklevel=3)


def loss_terms(
    model: Segmentor,
    outputs: TrainOutputs,
    targets: torch.Tensor,
    deleted_classes: torch.Tensor | None = None,
    ignore_index: int | None = None,
) -> dict[str, torch.Tensor]:
    """Deprecated: ``training_losses(model, None, targets, outputs=outputs)``."""
    _deprecated("loss_terms", "training_losses(model, None, targets, outputs=outputs)")
    return training_losses(model, None, targets, deleted_classes, ignore_index, outputs=outputs)


def training_loss(model: Segmentor, images: torch.Tensor, targets: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """Deprecated: ``training_losses(model, images, targets)["total"]``."""
    _deprecated("training_loss", 'training_losses(model, images, targets)["total"]')
    return training_losses(model, images, targets, ignore_index=ignore_index)["total"]
