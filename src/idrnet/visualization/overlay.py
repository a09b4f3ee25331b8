"""Colour label maps with a dataset palette and put pictures side by side."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..data.description import IGNORE_INDEX


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``(H, W)`` labels → ``(H, W, 3)`` uint8 RGB; the ignore label (and anything beyond the palette)
    is black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    colours = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:256]
    table[: len(colours)] = colours
    if 0 <= ignore_index < 256:
        table[ignore_index] = 0
    label = np.asarray(label)
    if label.min(initial=0) < 0 or label.max(initial=0) > 255:
        raise InputError(f"labels must lie in [0, 255] to colour them, got [{label.min()}, {label.max()}]")
    return table[label.astype(np.uint8)]


def overlay(image: np.ndarray, label: np.ndarray, palette: Sequence[Sequence[int]], alpha: float = 0.5,
            ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Blend the coloured ``label`` over the RGB ``image`` (same height and width); ignored pixels keep
    the image."""
    image = np.asarray(image, dtype=np.uint8)
    if image.shape[:2] != np.asarray(label).shape:
        raise InputError(f"image {image.shape[:2]} and label {np.asarray(label).shape} differ in size")
    colour = colorize(label, palette, ignore_index).astype(np.float32)
    out = image.astype(np.float32) * (1 - alpha) + colour * alpha
    keep = np.asarray(label) == ignore_index
    out[keep] = image[keep]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def side_by_side(panels: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Concatenate RGB panels of one height horizontally with white gaps."""
    h = panels[0].shape[0]
    if any(p.shape[0] != h for p in panels):
        raise ValueError("side_by_side needs panels of equal height")
    spacer = np.full((h, gap, 3), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for i, p in enumerate(panels):
        if i:
            parts.append(spacer)
        parts.append(p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2))
    return np.concatenate(parts, axis=1)
