"""mPC, rPC and the paired bootstrap over corruption cells."""

from __future__ import annotations

import numpy as np
import pytest

from idrnet.evaluation.compare import miou_of_areas, paired_bootstrap
from idrnet.evaluation.robustness_stats import mean_performance, paired_cell_bootstrap, relative_performance


def _areas(rng, cells, n, k):
    union = rng.integers(50, 200, size=(cells, n, k))
    inter = (union * rng.uniform(0.2, 0.9, size=(cells, n, k))).astype(np.int64)
    return inter, union


def test_one_cell_is_the_paired_bootstrap_of_idrnet_compare():
    rng = np.random.default_rng(0)
    inter_a, union_a = _areas(rng, 1, 30, 5)
    inter_b, union_b = _areas(rng, 1, 30, 5)
    ours = paired_cell_bootstrap(inter_a, union_a, inter_b, union_b, resamples=400, seed=3)["mpc"]
    reference = paired_bootstrap(inter_a[0], union_a[0], inter_b[0], union_b[0], resamples=400, seed=3)
    assert ours == pytest.approx(reference, abs=1e-12)


def test_mpc_difference_is_the_mean_of_cell_differences_and_groups_are_read_from_the_same_draws():
    rng = np.random.default_rng(1)
    inter_a, union_a = _areas(rng, 6, 40, 4)
    inter_b, union_b = _areas(rng, 6, 40, 4)
    cells_a = [float(miou_of_areas(inter_a[c].sum(0), union_a[c].sum(0))) for c in range(6)]
    cells_b = [float(miou_of_areas(inter_b[c].sum(0), union_b[c].sum(0))) for c in range(6)]
    result = paired_cell_bootstrap(inter_a, union_a, inter_b, union_b, {"noise": [0, 1, 2], "blur": [3, 4, 5]}, 300)
    assert result["mpc"][0] == pytest.approx(mean_performance(cells_b) - mean_performance(cells_a))
    assert result["noise"][0] == pytest.approx(np.mean(cells_b[:3]) - np.mean(cells_a[:3]))
    assert all(low <= value <= high for value, low, high in result.values())
    assert relative_performance(0.3, 0.6) == 0.5 and np.isnan(relative_performance(0.3, 0.0))
    # B = A: the difference and its whole interval are 0
    same = paired_cell_bootstrap(inter_a, union_a, inter_a, union_a, resamples=50)["mpc"]
    assert same == (0.0, 0.0, 0.0)
