"""Heatmaps and rankings of IDRNet's learned class relations."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..atomic import atomic_path


def _as_numpy(matrix: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().float().cpu().numpy()
    return np.asarray(matrix, dtype=np.float64)


def top_helpers(
    relations: torch.Tensor | np.ndarray, class_names: Sequence[str], k: int = 3
) -> dict[str, list[tuple[str, float]]]:
    """For each class j, the ``k`` other classes whose deletion raised the loss on j the most.

    ``relations[i, j]`` is how much deleting class i raised the loss on class j (IDRNet's
    ``class_relations_mean``). Only positive rises are listed (a class that never hurt j is not a helper).
    """
    r = _as_numpy(relations).copy()
    n = r.shape[0]
    if r.shape != (n, n) or len(class_names) != n:
        raise InputError(f"relations must be {len(class_names)}×{len(class_names)} for the class names, got {r.shape}")
    np.fill_diagonal(r, -np.inf)
    out: dict[str, list[tuple[str, float]]] = {}
    for j in range(n):
        column = r[:, j]
        order = np.argsort(-column, kind="stable")[:k]
        out[class_names[j]] = [(class_names[i], float(column[i])) for i in order if column[i] > 0]
    return out


def plot_relation_heatmap(
    relations: torch.Tensor | np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    title: str = "IDRNet class relations",
    hide_diagonal: bool = True,
    max_classes: int | None = None,
) -> Path:
    """Write ``relations`` (row i = deleted class, column j = affected class) as a labelled PNG heatmap.

    The diagonal (a class's own deletion, the identity initialisation) is hidden by default so the
    off-diagonal structure is visible. With ``max_classes``, only the classes with the strongest
    off-diagonal relations are drawn (for 150-class datasets).
    """
    fig = relation_heatmap_figure(relations, class_names, title, hide_diagonal, max_classes)
    return save_figure(fig, path, dpi=110)


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure as PNG atomically (folders created) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def relation_heatmap_figure(
    relations: torch.Tensor | np.ndarray,
    class_names: Sequence[str],
    title: str = "IDRNet class relations",
    hide_diagonal: bool = True,
    max_classes: int | None = None,
):
    """The matplotlib figure behind :func:`plot_relation_heatmap` (caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = _as_numpy(relations)
    n = r.shape[0]
    if r.shape != (n, n) or len(class_names) != n:
        raise InputError(f"relations must be {len(class_names)}×{len(class_names)} for the class names, got {r.shape}")
    shown = np.arange(n)
    if max_classes is not None and n > max_classes:
        off = np.abs(r - np.diag(np.diag(r)))
        shown = np.sort(np.argsort(-(off.sum(0) + off.sum(1)), kind="stable")[:max_classes])
    sub = r[np.ix_(shown, shown)].copy()
    if hide_diagonal:
        np.fill_diagonal(sub, np.nan)
    names = [class_names[i] for i in shown]
    finite = sub[np.isfinite(sub)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    bound = bound or 1.0
    size = max(4.0, 0.35 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(sub, cmap="RdBu_r", vmin=-bound, vmax=bound)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("class whose loss rose (affected)")
    ax.set_ylabel("deleted class (helper)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="loss rise when deleted")
    fig.tight_layout()
    return fig
