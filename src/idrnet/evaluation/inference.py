"""Inference modes: whole image, sliding window, multi-scale and flip test-time augmentation.

All functions take normalised image batches ``(B, 3, H, W)`` and return class scores (logits, or
probabilities when ``probs_before_resize``) resized to ``out_size``; :func:`labels_of` gives the labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

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
        if isinstance(self.scales, (int, float)) and not isinstance(self.scales, bool):
            object.__setattr__(self, "scales", (float(self.scales),))  # TTAConfig(scales=1.5): one scale
        if not self.scales or any(s <= 0 for s in self.scales):
            raise InputError(f"TTA scales must be positive, got {self.scales}")


def _resize(x: torch.Tensor, size: Sequence[int], align_corners: bool) -> torch.Tensor:
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=align_corners)


def _whole_native(model: SegmentationModel, images: torch.Tensor, probs_before_resize: bool) -> torch.Tensor:
    if model.size_divisor > 1 or not hasattr(model, "forward_logits"):
        # padded backbones and exported models (no head-resolution output) give input-size scores
        return model.forward_scores(images, probs_before_resize)
    scores = model.forward_logits(images)
    return scores.softmax(dim=1) if probs_before_resize else scores


def whole_scores(model: SegmentationModel, images: torch.Tensor, out_size: Sequence[int], probs_before_resize: bool = False) -> torch.Tensor:
    """One forward of the whole image; head-resolution scores resized straight to ``out_size`` (as the
    official test script does)."""
    return _resize(_whole_native(model, images, probs_before_resize), out_size, model.align_corners)


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


def _single_scale_native(model: SegmentationModel, images: torch.Tensor, inference: InferenceConfig,
                         crop_batch: int) -> torch.Tensor:
    """Scores with the model's inference settings before the final resize: the head's resolution (whole)
    or the input's (slide, and models that pad)."""
    if inference.mode == "slide":
        if inference.crop_size is None or inference.stride is None:
            raise InputError("inference mode 'slide' needs crop_size and stride")
        return slide_scores(model, images, inference.crop_size, inference.stride, None,
                            inference.probs_before_resize, crop_batch)
    return _whole_native(model, images, inference.probs_before_resize)


def single_scale_scores(
    model: SegmentationModel, images: torch.Tensor, inference: InferenceConfig, out_size: Sequence[int], crop_batch: int = 8
) -> torch.Tensor:
    """Scores with the model's inference settings (whole or slide) at ``out_size``."""
    return _resize(_single_scale_native(model, images, inference, crop_batch), out_size, model.align_corners)


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


def _views(model: SegmentationModel, images: torch.Tensor, inference: InferenceConfig, tta: TTAConfig,
           crop_batch: int) -> list[torch.Tensor]:
    """Each TTA scale's scores before the final resize; with ``tta.flip`` the flipped copies follow the
    originals in the batch."""
    h, w = images.shape[2:]
    views = []
    for scale in tta.scales:
        view = images
        if scale != 1.0:
            size = (max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5)))
            view = F.interpolate(images, size=size, mode="bilinear", align_corners=model.align_corners)
        if tta.flip:
            view = torch.cat([view, view.flip(-1)], dim=0)
        views.append(_single_scale_native(model, view, inference, crop_batch))
    return views


def _merge(views: list[torch.Tensor], out_size: tuple[int, ...], channels: slice, tta: TTAConfig,
           perm: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """The average over views of their scores for ``channels``, resized to ``out_size`` in float32.
    Every channel is resized on its own, so a slice of channels gets exactly those channels' values."""
    total = None
    for native in views:
        if tta.flip:
            n = native.shape[0] // 2
            straight = _resize(native[:n, channels].contiguous(), out_size, align_corners).float()
            # the flipped view's channel perm[c] is class c once flipped back (left/right classes swapped)
            mirrored = _resize(native[n:, perm[channels]].contiguous(), out_size, align_corners).float().flip(-1)
            scores = straight + mirrored
        else:
            scores = _resize(native[:, channels].contiguous(), out_size, align_corners).float()
        total = scores if total is None else total + scores
    assert total is not None
    return total / (len(tta.scales) * (2 if tta.flip else 1))


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
    return _ScoreGroups(model, images, inference or model.config.inference, out_size, tta or TTAConfig(), flip_pairs,
                        crop_batch).merged(slice(None))


# Full-resolution float32 scores of a few classes at a time above this: 150 classes on a 12-megapixel photo
# are 7.2 GB at once (15 GB peak with the softmax), under 0.3 GB this way.
SCORES_BYTES_AT_ONCE = 256 * 2**20


class _ScoreGroups:
    """The TTA-merged scores of a batch at ``out_size``, a group of classes at a time: as many classes as
    fit in ``max_bytes`` of float32 (all of them in one group when they fit). Iterating yields
    ``(first class, (B, k, H, W) scores)``; the network runs once, each iteration only resizes."""

    def __init__(self, model: SegmentationModel, images: torch.Tensor, inference: InferenceConfig,
                 out_size: Sequence[int] | None, tta: TTAConfig, flip_pairs: Sequence[tuple[int, int]], crop_batch: int,
                 max_bytes: int = SCORES_BYTES_AT_ONCE) -> None:
        self.views = _views(model, images, inference, tta, crop_batch)
        self.out_size = tuple(out_size or images.shape[2:])
        self.tta, self.align_corners = tta, model.align_corners
        self.perm = flip_permutation(self.views[0].shape[1], flip_pairs).to(self.views[0].device)
        self.classes = self.views[0].shape[1]
        batch = self.views[0].shape[0] // (2 if tta.flip else 1)
        self.step = max(1, max_bytes // max(batch * self.out_size[0] * self.out_size[1] * 4, 1))

    @property
    def whole(self) -> bool:
        """Whether every class comes in one group (then exactly :func:`predict_scores`)."""
        return self.step >= self.classes

    def merged(self, channels: slice) -> torch.Tensor:
        """The merged scores of ``channels`` (all classes with ``slice(None)``)."""
        return _merge(self.views, self.out_size, channels, self.tta, self.perm, self.align_corners)

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
        for first in range(0, self.classes, self.step):
            yield first, self.merged(slice(first, first + self.step))


def keep_best(best: torch.Tensor | None, labels: torch.Tensor | None, scores: torch.Tensor, first: int,
              dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's best score and label so far, with one more group of classes (``first``… along ``dim``
    of ``scores``) folded in: groups folded in class order give :func:`labels_of` of all the scores (ties
    go to the first class, NaN counts as highest). ``best`` and ``labels`` are None before the first."""
    value, index = scores.max(dim)
    if best is None or labels is None:
        return value, index + first
    better = (value > best) | (value.isnan() & ~best.isnan())
    return torch.where(better, value, best), torch.where(better, index + first, labels)


def _softmax_normaliser(groups: _ScoreGroups) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's highest score and Σ exp(score − highest) over all classes, a group at a time (a
    running log-sum-exp): softmax = exp(score − highest) / sum."""
    top = total = None
    for _, scores in groups:
        group_top = scores.amax(1)
        new_top = group_top if top is None else torch.maximum(top, group_top)
        shifted = (scores - new_top.unsqueeze(1)).exp().sum(1)
        total = shifted if total is None else total * (top - new_top).exp() + shifted
        top = new_top
    assert top is not None and total is not None
    return top, total


@torch.no_grad()
def predict_labels(
    model: SegmentationModel,
    images: torch.Tensor,
    inference: InferenceConfig | None = None,
    out_size: Sequence[int] | None = None,
    tta: TTAConfig | None = None,
    flip_pairs: Sequence[tuple[int, int]] = (),
    crop_batch: int = 8,
    return_confidence: bool = False,
    max_bytes: int = SCORES_BYTES_AT_ONCE,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``labels_of(predict_scores(...))`` (and with ``return_confidence`` each pixel's top class
    probability) without holding the ``(B, K, H, W)`` scores when they exceed ``max_bytes``: the classes
    are then resized a group at a time and the best kept, which gives the same labels (each channel is
    resized on its own; ties go to the first class, NaN counts as highest, as in :func:`labels_of`)."""
    inference = inference or model.config.inference
    groups = _ScoreGroups(model, images, inference, out_size, tta or TTAConfig(), flip_pairs, crop_batch, max_bytes)
    probabilities = inference.probs_before_resize
    if groups.whole:
        _, scores = next(iter(groups))
        labels = labels_of(scores)
        if not return_confidence:
            return labels
        return labels, (scores if probabilities else scores.softmax(dim=1)).amax(dim=1)
    best = labels = None
    for first, scores in groups:
        best, labels = keep_best(best, labels, scores, first)
    assert labels is not None and best is not None
    if not return_confidence:
        return labels
    # softmax's top probability is 1 / Σ exp(s − max); the groups are resized once more for the sum
    return labels, (best if probabilities else 1 / _softmax_normaliser(groups)[1])


@torch.no_grad()
def probability_groups(
    model: SegmentationModel,
    images: torch.Tensor,
    inference: InferenceConfig | None = None,
    out_size: Sequence[int] | None = None,
    tta: TTAConfig | None = None,
    flip_pairs: Sequence[tuple[int, int]] = (),
    crop_batch: int = 8,
    max_bytes: int = SCORES_BYTES_AT_ONCE,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Class probabilities of ``images`` at ``out_size``, as ``(first class, (B, k, H, W) float32)``
    groups in class order, at most ``max_bytes`` of them at a time: the softmax of :func:`predict_scores`
    (or its averaged probabilities with ``probs_before_resize``). One group holds every class when they fit,
    and is then exactly ``predict_scores(...).softmax(1)``; otherwise the scores are resized twice, once for
    the softmax's maximum and sum, once for the probabilities, so that a caller can write them out
    without holding them all."""
    inference = inference or model.config.inference
    groups = _ScoreGroups(model, images, inference, out_size, tta or TTAConfig(), flip_pairs, crop_batch, max_bytes)
    if inference.probs_before_resize:
        yield from groups
        return
    if groups.whole:
        _, scores = next(iter(groups))
        yield 0, scores.softmax(dim=1)
        return
    top, total = _softmax_normaliser(groups)
    for first, scores in groups:
        yield first, (scores - top.unsqueeze(1)).exp() / total.unsqueeze(1)
