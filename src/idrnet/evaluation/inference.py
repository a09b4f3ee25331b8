"""Inference modes: whole image, sliding window, multi-scale and flip test-time augmentation.

All functions take normalised image batches ``(B, 3, H, W)`` and return class scores (logits, or
probabilities when ``probs_before_resize``) resized to ``out_size``; :func:`labels_of` gives the labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..models.config import InferenceConfig
from ..models.protocol import SegmentationModel


@dataclass(frozen=True)
class TTAConfig:
    """Test-time augmentation: input rescaled by each of ``scales`` (1.0 = as given), plus horizontally
    flipped copies when ``flip``. Scores of every view are resized to the output size and averaged."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        if not self.scales or any(s <= 0 for s in self.scales):
            raise InputError(f"TTA scales must be positive, got {self.scales}")


def _resize(x: torch.Tensor, size: Sequence[int], align_corners: bool) -> torch.Tensor:
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=align_corners)


def whole_scores(model: SegmentationModel, images: torch.Tensor, out_size: Sequence[int], probs_before_resize: bool = False) -> torch.Tensor:
    """One forward of the whole image; head-resolution scores resized straight to ``out_size`` (as the
    official test script does)."""
    if model.size_divisor > 1 or not hasattr(model, "forward_logits"):
        # padded backbones and exported models (no head-resolution output) give input-size scores
        scores = model.forward_scores(images, probs_before_resize)
    else:
        scores = model.forward_logits(images)
        if probs_before_resize:
            scores = scores.softmax(dim=1)
    return _resize(scores, out_size, model.align_corners)


def _grid(size: int, crop: int, stride: int) -> list[tuple[int, int]]:
    steps = max(size - crop + stride - 1, 0) // stride + 1
    spans = []
    for i in range(steps):
        end = min(i * stride + crop, size)
        spans.append((max(end - crop, 0), end))
    return spans


def slide_scores(
    model: SegmentationModel,
    images: torch.Tensor,
    crop_size: Sequence[int],
    stride: Sequence[int],
    out_size: Sequence[int] | None = None,
    probs_before_resize: bool = False,
    crop_batch: int = 8,
) -> torch.Tensor:
    """Sliding-window scores: crops of ``crop_size`` every ``stride`` (the last crop of a row or
    column is aligned to the border), run ``crop_batch`` crops per forward, each crop's scores resized
    to the crop, summed and divided by how many crops cover each pixel. Images smaller than the crop
    are processed whole."""
    b, _, h, w = images.shape
    ch, cw = crop_size
    sh, sw = stride
    if sh <= 0 or sw <= 0 or ch <= 0 or cw <= 0:
        raise InputError(f"slide inference needs positive crop_size and stride, got {crop_size}, {stride}")
    if sh > ch or sw > cw:  # the pixels between two windows would get no score (0/0: a silent label 0)
        raise InputError(f"slide inference needs a stride no larger than the crop, got crop {list(crop_size)} and "
                         f"stride {list(stride)}: windows would leave pixels between them unscored")
    windows = [(y, x) for y in _grid(h, ch, sh) for x in _grid(w, cw, sw)]
    # Every window has the same size (min(H, ch) × min(W, cw)), so crops of all images stack into batches.
    crops = torch.cat([images[:, :, y0:y1, x0:x1] for (y0, y1), (x0, x1) in windows], dim=0)
    crop_hw = crops.shape[2:]
    outputs = [whole_scores(model, chunk, crop_hw, probs_before_resize) for chunk in crops.split(max(1, crop_batch))]
    scores = torch.cat(outputs, dim=0).view(len(windows), b, -1, *crop_hw)
    total = images.new_zeros(b, scores.shape[2], h, w, dtype=scores.dtype)
    count = images.new_zeros(1, 1, h, w, dtype=scores.dtype)
    for n, ((y0, y1), (x0, x1)) in enumerate(windows):
        total[:, :, y0:y1, x0:x1] += scores[n]
        count[:, :, y0:y1, x0:x1] += 1
    merged = total / count
    return merged if out_size is None else _resize(merged, out_size, model.align_corners)


def single_scale_scores(
    model: SegmentationModel, images: torch.Tensor, inference: InferenceConfig, out_size: Sequence[int], crop_batch: int = 8
) -> torch.Tensor:
    """Scores with the model's inference settings (whole or slide) at ``out_size``."""
    if inference.mode == "slide":
        if inference.crop_size is None or inference.stride is None:
            raise InputError("inference mode 'slide' needs crop_size and stride")
        return slide_scores(model, images, inference.crop_size, inference.stride, out_size,
                            inference.probs_before_resize, crop_batch)
    return whole_scores(model, images, out_size, inference.probs_before_resize)


def flip_permutation(num_classes: int, flip_pairs: Sequence[tuple[int, int]] = ()) -> torch.Tensor:
    """Channel order that swaps left/right classes (human parsing) after a horizontal flip."""
    perm = torch.arange(num_classes)
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm


def labels_of(scores: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The label map of class scores: per pixel the index of the highest score along ``dim`` (the first
    of tied ones; NaN counts as highest), exactly what ``argmax(dim)`` gives.

    ``max(dim).indices`` is used because PyTorch's CPU argmax over a dimension that is not the innermost
    one (the classes of ``(B, K, H, W)`` scores) is slower: 1.78 against 0.35 ms for 11 × 128² scores,
    247 against 67 ms for 19 × 1024 × 2048, 114 against 93 ms for 150 × 512² (2 threads,
    ``benchmarks/labels_speed.py``, 2026-12-06)."""
    return scores.max(dim).indices


@torch.no_grad()
def predict_scores(
    model: SegmentationModel,
    images: torch.Tensor,
    inference: InferenceConfig | None = None,
    out_size: Sequence[int] | None = None,
    tta: TTAConfig | None = None,
    flip_pairs: Sequence[tuple[int, int]] = (),
    crop_batch: int = 8,
) -> torch.Tensor:
    """Scores ``(B, K, *out_size)`` of ``images`` with the model's inference settings (or ``inference``)
    and optional multi-scale/flip TTA. ``out_size`` defaults to the input size. Flipped views are
    batched with the originals; ``flip_pairs`` swap left/right classes back."""
    inference = inference or model.config.inference
    out_size = tuple(out_size or images.shape[2:])
    tta = tta or TTAConfig()
    h, w = images.shape[2:]
    total = None
    for scale in tta.scales:
        view = images
        if scale != 1.0:
            size = (max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5)))
            view = F.interpolate(images, size=size, mode="bilinear", align_corners=model.align_corners)
        if tta.flip:
            view = torch.cat([view, view.flip(-1)], dim=0)
        scores = single_scale_scores(model, view, inference, out_size, crop_batch).float()
        if tta.flip:
            straight, flipped = scores.chunk(2, dim=0)
            perm = flip_permutation(scores.shape[1], flip_pairs).to(scores.device)
            scores = straight + flipped.flip(-1)[:, perm]
        total = scores if total is None else total + scores
    assert total is not None
    return total / (len(tta.scales) * (2 if tta.flip else 1))
