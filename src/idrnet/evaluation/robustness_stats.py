"""Robustness figures from per-image areas (issue 27): mPC (mean mIoU over corruption × severity
cells, Michaelis et al. 2019), rPC (mPC / clean mIoU), and the paired difference of two models with a
bootstrap interval over images — one resampling of the images serves every cell and both models, as
both saw the same corrupted images."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .compare import miou_of_areas


def mean_performance(cell_mious: Sequence[float]) -> float:
    """mPC: the mean of the cells' mIoU."""
    return float(np.mean(cell_mious))


def relative_performance(mpc: float, clean_miou: float) -> float:
    """rPC = mPC / clean mIoU (NaN when the clean mIoU is 0)."""
    return float(mpc / clean_miou) if clean_miou > 0 else float("nan")


def paired_cell_bootstrap(
    inter_a: np.ndarray, union_a: np.ndarray, inter_b: np.ndarray, union_b: np.ndarray,
    groups: dict[str, Sequence[int]] | None = None, resamples: int = 1000, seed: int = 0, level: float = 0.95,
) -> dict[str, tuple[float, float, float]]:
    """B − A of the mean mIoU over cells, for all cells (key ``"mpc"``) and for each group of cell
    indices in ``groups`` (e.g. a corruption's severities): (observed, low, high). Inputs are per-cell,
    per-image areas ``(C, N, K)``; each bootstrap draw reweights the images once, for every cell and both
    models. With one cell this is :func:`~idrnet.evaluation.compare.paired_bootstrap`."""
    cells, n, _ = inter_a.shape
    groups = {"mpc": range(cells), **(groups or {})}

    def cell_mious(weights: np.ndarray, inter: np.ndarray, union: np.ndarray) -> np.ndarray:
        # (R, N) weights × (C, N, K) areas → (C, R) mIoU
        return miou_of_areas(np.einsum("rn,cnk->crk", weights, inter), np.einsum("rn,cnk->crk", weights, union))

    ones = np.ones((1, n))
    observed = cell_mious(ones, inter_b, union_b)[:, 0] - cell_mious(ones, inter_a, union_a)[:, 0]
    result = {name: (float(observed[list(index)].mean()), float("nan"), float("nan")) for name, index in groups.items()}
    if n < 2:
        return result
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)  # (R, N)
    deltas = cell_mious(counts, inter_b, union_b) - cell_mious(counts, inter_a, union_a)  # (C, R)
    alpha = (1 - level) / 2
    for name, index in groups.items():
        low, high = np.quantile(deltas[list(index)].mean(0), [alpha, 1 - alpha])
        result[name] = (result[name][0], float(low), float(high))
    return result
