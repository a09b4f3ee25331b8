"""The official training and test pipelines as small, seedable numpy/OpenCV transforms.

A sample is a dict with ``"image"`` (H×W×3 uint8, RGB) and ``"label"`` (H×W int32, the ignore label
for unlabelled pixels). Every random transform draws from the ``np.random.Generator`` it is given, so
a seed (per sample, per worker) reproduces the pipeline exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from .description import IGNORE_INDEX

Sample = dict[str, Any]
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass
class Resize:
    """Resize to ``size`` = (long, short) sides, optionally scaled by a random ratio in ``ratio_range``.

    ``keep_ratio``: the largest scale at which the image fits in (long, short); otherwise the image is
    resized exactly to (long, short) with its long side along its own longer axis. Image bilinear,
    label nearest (OpenCV), as the official pipeline does.
    """

    size: tuple[int, int]
    keep_ratio: bool = True
    ratio_range: tuple[float, float] | None = None

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        long_side, short_side = self.size
        if self.ratio_range is not None:
            ratio = rng.random() * (self.ratio_range[1] - self.ratio_range[0]) + self.ratio_range[0]
            long_side, short_side = int(long_side * ratio), int(short_side * ratio)
        h, w = sample["image"].shape[:2]
        if self.keep_ratio:
            scale = min(max(long_side, short_side) / max(h, w), min(long_side, short_side) / min(h, w))
            # at least one pixel: a 1×5000 strip would otherwise round to an empty image
            dsize = max(1, int(w * scale + 0.5)), max(1, int(h * scale + 0.5))
        else:
            big, small = max(long_side, short_side), min(long_side, short_side)
            dsize = (small, big) if h > w else (big, small)
        sample["image"] = cv2.resize(sample["image"], dsize, interpolation=cv2.INTER_LINEAR)
        if "label" in sample:
            sample["label"] = cv2.resize(sample["label"], dsize, interpolation=cv2.INTER_NEAREST)
        return sample


@dataclass
class RandomCrop:
    """Random crop of at most ``size`` (h, w); up to 10 tries for a crop in which no single labelled
    class covers ``max_class_ratio`` or more of the labelled pixels (and more than one class appears),
    else the last try. The output's size never depends on the labels (an all-ignore mask is cropped too)."""

    size: tuple[int, int]
    max_class_ratio: float = 0.75
    ignore_index: int = IGNORE_INDEX

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        h, w = sample["image"].shape[:2]
        ch, cw = min(self.size[0], h), min(self.size[1], w)
        label = sample["label"]
        for _ in range(10):
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = label[top:top + ch, left:left + cw]
            counts = np.bincount(crop[crop != self.ignore_index].ravel())
            counts = counts[counts > 0]
            if len(counts) > 1 and counts.max() / counts.sum() < self.max_class_ratio:
                break
        sample["image"] = sample["image"][top:top + ch, left:left + cw]
        sample["label"] = crop
        return sample


@dataclass
class RandomFlip:
    """Horizontal flip with probability ``prob``; ``swap_pairs`` exchanges left/right class labels."""

    prob: float = 0.5
    swap_pairs: Sequence[tuple[int, int]] = ()

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() > self.prob:
            return sample
        sample["image"] = sample["image"][:, ::-1]
        if "label" in sample:
            label = sample["label"][:, ::-1].copy()
            if self.swap_pairs:
                table = np.arange(max(256, int(label.max()) + 1), dtype=label.dtype)
                for a, b in self.swap_pairs:
                    table[a], table[b] = b, a
                label = table[label]
            sample["label"] = label
        return sample


def _affine(image: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    return np.clip(image.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


@dataclass
class PhotoMetricDistortion:
    """Random brightness, contrast (before or after), saturation and hue, each with probability ½.

    ``reference_hsv_order``: the official pipeline converts BGR data with an RGB→HSV conversion, so its
    hue and saturation act on swapped red/blue; True reproduces that, False uses true HSV.
    """

    brightness_delta: int = 32
    contrast_range: tuple[float, float] = (0.5, 1.5)
    saturation_range: tuple[float, float] = (0.5, 1.5)
    hue_delta: int = 18
    reference_hsv_order: bool = True

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        image = np.ascontiguousarray(sample["image"])
        to_hsv, from_hsv = (cv2.COLOR_BGR2HSV, cv2.COLOR_HSV2BGR) if self.reference_hsv_order else (
            cv2.COLOR_RGB2HSV, cv2.COLOR_HSV2RGB)
        if rng.integers(2):
            image = _affine(image, beta=rng.uniform(-self.brightness_delta, self.brightness_delta))
        contrast_last = rng.integers(2) == 0
        if not contrast_last and rng.integers(2):
            image = _affine(image, alpha=rng.uniform(*self.contrast_range))
        if rng.integers(2):
            hsv = cv2.cvtColor(image, to_hsv)
            hsv[..., 1] = _affine(hsv[..., 1], alpha=rng.uniform(*self.saturation_range))
            image = cv2.cvtColor(hsv, from_hsv)
        if rng.integers(2):
            hsv = cv2.cvtColor(image, to_hsv)
            hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(-self.hue_delta, self.hue_delta))) % 180
            image = cv2.cvtColor(hsv, from_hsv)
        if contrast_last and rng.integers(2):
            image = _affine(image, alpha=rng.uniform(*self.contrast_range))
        sample["image"] = image
        return sample


@dataclass
class RandomRotation:
    """Rotation by a random integer angle in [−max_angle, max_angle) with probability ``prob``;
    image bicubic (filled with 0), label nearest (filled with the ignore label)."""

    prob: float = 0.6
    max_angle: int = 30
    ignore_index: int = IGNORE_INDEX

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() > self.prob:
            return sample
        h, w = sample["image"].shape[:2]
        angle = int(rng.integers(-self.max_angle, self.max_angle))
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1)
        sample["image"] = cv2.warpAffine(np.ascontiguousarray(sample["image"]), matrix, (w, h),
                                         flags=cv2.INTER_CUBIC, borderValue=0)
        if "label" in sample:
            sample["label"] = cv2.warpAffine(np.ascontiguousarray(sample["label"]).astype(np.int32).astype(np.float32),
                                             matrix, (w, h), flags=cv2.INTER_NEAREST,
                                             borderValue=float(self.ignore_index)).astype(np.int32)
        return sample


@dataclass
class ToTensor:
    """Normalise the RGB image with ``mean``/``std`` to a float CHW tensor, the label to int64 HW, and
    pad both (centred, as the official pipeline does) to at least ``pad_to`` with 0 / the ignore label."""

    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    pad_to: tuple[int, int] | None = None
    ignore_index: int = IGNORE_INDEX

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        image = (np.ascontiguousarray(sample["image"]).astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        image = torch.from_numpy(image.transpose(2, 0, 1).copy())
        label = torch.from_numpy(np.ascontiguousarray(sample["label"]).astype(np.int64)) if "label" in sample else None
        if self.pad_to is not None:
            h, w = image.shape[1:]
            ph, pw = max(self.pad_to[0] - h, 0), max(self.pad_to[1] - w, 0)
            if ph or pw:
                top, left = ph // 2, pw // 2
                pad = (left, pw - left, top, ph - top)
                image = torch.nn.functional.pad(image, pad, value=0.0)
                if label is not None:
                    label = torch.nn.functional.pad(label, pad, value=self.ignore_index)
        sample["image"] = image
        if label is not None:
            sample["label"] = label
        return sample


@dataclass
class Compose:
    """Apply transforms in order, each with the same generator."""

    transforms: list[Callable[[Sample, np.random.Generator], Sample]] = field(default_factory=list)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for t in self.transforms:
            sample = t(sample, rng)
        return sample


def train_pipeline(
    scale: tuple[int, int],
    crop_size: tuple[int, int],
    ratio_range: tuple[float, float] = (0.5, 2.0),
    keep_ratio: bool = True,
    ignore_index: int = IGNORE_INDEX,
    swap_pairs: Sequence[tuple[int, int]] = (),
    rotate: bool = False,
) -> Compose:
    """The official training pipeline: resize with a random ratio, crop (≤ 75 % one class), flip,
    (rotation for human parsing), photometric distortion, normalise and pad to the crop size."""
    steps: list = [
        Resize(scale, keep_ratio, ratio_range),
        RandomCrop(crop_size, 0.75, ignore_index),
        RandomFlip(0.5, swap_pairs),
    ]
    if rotate:
        steps.append(RandomRotation(0.6, 30, ignore_index))
    steps += [PhotoMetricDistortion(), ToTensor(pad_to=crop_size, ignore_index=ignore_index)]
    return Compose(steps)


def eval_pipeline(scale: tuple[int, int] | None, keep_ratio: bool = True, ignore_index: int = IGNORE_INDEX) -> Compose:
    """The official test-time resize (none when ``scale`` is None) and normalisation. The label is
    kept at its original size (predictions are resized back to it)."""
    steps: list = []
    if scale is not None:
        steps.append(_ImageOnly(Resize(scale, keep_ratio, None)))
    steps.append(ToTensor(ignore_index=ignore_index))
    return Compose(steps)


@dataclass
class _ImageOnly:
    inner: Any

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        label = sample.pop("label", None)
        sample = self.inner(sample, rng)
        if label is not None:
            sample["label"] = label
        return sample
