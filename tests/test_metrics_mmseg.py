"""Our metrics against mmsegmentation 1.2.2's own metric code (installed without its dependencies by
scripts/setup.sh; its two functions are read from the installed file, as importing mmseg needs mmcv)."""

from __future__ import annotations

import ast
import importlib.util
from collections import OrderedDict
from pathlib import Path
from typing import List, Optional

import numpy as np
import pytest
import torch

from idrnet.evaluation.compare import areas_of_confusion
from idrnet.evaluation.confusion import ConfusionMatrix


def _mmseg_metric_functions():
    spec = importlib.util.find_spec("mmseg")
    if spec is None:
        pytest.skip("mmsegmentation is not installed (scripts/setup.sh installs it)")
    path = Path(spec.submodule_search_locations[0]) / "evaluation" / "metrics" / "iou_metric.py"
    tree = ast.parse(path.read_text())
    wanted = {"intersect_and_union", "total_area_to_metrics"}
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name in wanted]
    for node in functions:
        node.decorator_list = []  # @staticmethod inside IoUMetric
    namespace = {"torch": torch, "np": np, "OrderedDict": OrderedDict, "List": List, "Optional": Optional}
    exec(compile(ast.Module(body=functions, type_ignores=[]), str(path), "exec"), namespace)
    return namespace["intersect_and_union"], namespace["total_area_to_metrics"]


@pytest.mark.parametrize("outside", [False, True], ids=["in-range", "predictions-outside-0-K"])
def test_metrics_equal_mmsegmentations_including_predictions_outside_the_classes(outside):
    intersect_and_union, total_area_to_metrics = _mmseg_metric_functions()
    rng = np.random.default_rng(3)
    k = 7
    ours = ConfusionMatrix(k, ignore_index=255)
    totals = [torch.zeros(k, dtype=torch.float64) for _ in range(4)]
    for _ in range(6):
        label = rng.integers(0, k, size=(19, 23))
        label[rng.random(label.shape) < 0.1] = 255
        prediction = np.where(rng.random(label.shape) < 0.55, label % k, rng.integers(0, k, size=label.shape))
        if outside:  # an exported or foreign model's "no class" values
            prediction[rng.random(label.shape) < 0.15] = rng.choice([255, k, -1])
        prediction, label = torch.from_numpy(prediction), torch.from_numpy(label)
        ours.update(prediction, label)
        for total, area in zip(totals, intersect_and_union(prediction, label, k, 255)):
            total += area.double()
    theirs = total_area_to_metrics(*totals, metrics=["mIoU", "mDice", "mFscore"])
    mine = ours.metrics()
    for key in ("IoU", "Acc", "Dice", "Fscore", "Precision", "Recall"):
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-12, atol=0, err_msg=key)
    assert mine["aAcc"] == pytest.approx(float(theirs["aAcc"]), rel=1e-12)
    assert mine["mIoU"] == pytest.approx(float(np.nanmean(theirs["IoU"])), rel=1e-12)
    inter, union = areas_of_confusion(ours.matrix)
    np.testing.assert_array_equal(inter, totals[0].numpy())
    np.testing.assert_array_equal(union, totals[1].numpy())


def test_a_prediction_outside_the_classes_is_wrong_and_no_class_is_charged_for_it():
    label = torch.tensor([[0, 0, 1, 2]])
    clamped_before = torch.tensor([[0, 255, 1, 2]])
    cm = ConfusionMatrix(3)
    cm.update(clamped_before, label)
    m = cm.metrics()
    # Class 0: one of its two pixels right, nothing else predicted as 0. Class 2 (K−1), which the
    # 255 used to be clamped into, keeps IoU 1.
    assert m["IoU"] == [0.5, 1.0, 1.0] and m["aAcc"] == pytest.approx(3 / 4)
