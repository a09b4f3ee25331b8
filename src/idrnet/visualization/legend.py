"""A colour legend (swatch and class name) beside a picture of labels."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ..data.description import IGNORE_INDEX


def legend_panel(
    class_ids: Sequence[int], classes: Sequence[str], palette: Sequence[Sequence[int]], height: int,
    row: int = 18, width: int = 190, max_rows: int = 30,
) -> np.ndarray:
    """A white ``(≥height, width, 3)`` panel listing ``class_ids`` with their colours, one per row
    (the rest summarised as "+N more" beyond ``max_rows``)."""
    import cv2

    ids = list(class_ids)
    shown = ids if len(ids) <= max_rows else ids[: max_rows - 1]
    lines = len(shown) + (len(ids) > len(shown))
    panel = np.full((max(height, lines * row + 8), width, 3), 255, dtype=np.uint8)
    for i, k in enumerate(shown):
        y = 4 + i * row
        colour = tuple(int(v) for v in palette[k]) if k < len(palette) else (0, 0, 0)
        cv2.rectangle(panel, (4, y + 2), (4 + row - 6, y + row - 4), colour, -1)
        cv2.rectangle(panel, (4, y + 2), (4 + row - 6, y + row - 4), (90, 90, 90), 1)
        name = classes[k] if k < len(classes) else str(k)
        cv2.putText(panel, f"{k} {name}"[:26], (row + 2, y + row - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
    if len(ids) > len(shown):
        cv2.putText(panel, f"+{len(ids) - len(shown)} more", (6, 4 + len(shown) * row + row - 6),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def present_classes(*label_maps: np.ndarray, ignore_index: int = IGNORE_INDEX) -> list[int]:
    """Classes found in any of the label maps, largest total area first."""
    counts: dict[int, int] = {}
    for label in label_maps:
        values, n = np.unique(np.asarray(label), return_counts=True)
        for v, c in zip(values.tolist(), n.tolist()):
            if v != ignore_index:
                counts[v] = counts.get(v, 0) + c
    return sorted(counts, key=lambda k: (-counts[k], k))


def with_legend(
    picture: np.ndarray, label_maps: Sequence[np.ndarray], classes: Sequence[str], palette: Sequence[Sequence[int]],
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """``picture`` (RGB) with a legend of the classes in ``label_maps`` on its right (the picture is
    padded with white below when the legend is taller)."""
    ids = present_classes(*label_maps, ignore_index=ignore_index)
    panel = legend_panel(ids, classes, palette, picture.shape[0])
    if panel.shape[0] > picture.shape[0]:
        pad = np.full((panel.shape[0] - picture.shape[0], *picture.shape[1:]), 255, dtype=np.uint8)
        picture = np.concatenate([picture, pad], axis=0)
    gap = np.full((picture.shape[0], 4, 3), 255, dtype=np.uint8)
    return np.concatenate([picture, gap, panel], axis=1)
