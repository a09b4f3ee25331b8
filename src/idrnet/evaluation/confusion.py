"""Streaming confusion matrix and the standard segmentation metrics computed from it."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.distributed as dist

from ..distributed import is_distributed
from ..data.description import IGNORE_INDEX


class ConfusionMatrix:
    """Accumulates a K×(K+1) confusion matrix (see :func:`confusion_of`) on the device.

    Memory does not depend on the dataset size; ``all_reduce`` sums it across processes.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, device: torch.device | str = "cpu") -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes + 1, dtype=torch.int64, device=device)

    @torch.no_grad()
    def update(self, predictions: torch.Tensor, targets: torch.Tensor) -> None:
        """Add a batch of label maps (same shape; ignored and out-of-range targets are skipped)."""
        if predictions.shape != targets.shape:
            raise ValueError(f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} differ in shape")
        self.matrix += confusion_of(predictions, targets, self.num_classes, self.ignore_index).to(self.matrix.device)

    def all_reduce(self) -> None:
        """Sum over all processes (no-op without torch.distributed)."""
        if is_distributed():
            dist.all_reduce(self.matrix)

    def metrics(self, beta: float = 1.0) -> dict[str, object]:
        """The metrics of :func:`metrics_from_confusion` for the accumulated matrix."""
        return metrics_from_confusion(self.matrix, beta)


def confusion_of(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """K×(K+1) confusion matrix (int64) of label maps: rows ground truth, columns prediction, and a last
    column for predictions outside [0, K) (255 from a foreign model, say).

    Such a prediction is wrong for its pixel's class and adds to no class's predicted area, as in
    mmsegmentation (clamping it into class K−1 would change that class's IoU). Ignored and out-of-range
    targets are skipped.
    """
    return confusions_of(predictions.unsqueeze(0), targets.unsqueeze(0), num_classes, ignore_index)[0]


def confusions_of(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int,
                  ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """One confusion matrix of :func:`confusion_of` per image, ``(B, K, K+1)`` int64, of ``(B, ...)`` label
    maps (one bincount for the batch)."""
    k, b = num_classes, targets.shape[0]
    valid = (targets >= 0) & (targets < k) & (targets != ignore_index)
    image = torch.arange(b, device=targets.device).view(-1, *([1] * (targets.dim() - 1))).expand_as(targets)
    predicted = predictions[valid].to(torch.int64)
    predicted = torch.where((predicted >= 0) & (predicted < k), predicted, k)
    index = (image[valid] * k + targets[valid].to(torch.int64)) * (k + 1) + predicted
    return torch.bincount(index, minlength=b * k * (k + 1)).view(b, k, k + 1)


def class_areas(confusion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """True-positive, ground-truth and predicted pixel counts per class, ``(..., K)`` each, of
    ``(..., K, K+1)`` confusion matrices (a plain ``(..., K, K)`` one is taken too)."""
    k = confusion.shape[-2]
    classes = confusion[..., :k]
    return classes.diagonal(dim1=-2, dim2=-1), confusion.sum(-1), classes.sum(-2)


def _nanmean(x: torch.Tensor) -> float:
    return float(torch.nanmean(x)) if bool(torch.isfinite(x).any()) else math.nan


def metrics_from_confusion(matrix: torch.Tensor, beta: float = 1.0) -> dict[str, object]:
    """mmsegmentation's metrics from a confusion matrix of :func:`confusion_of` (or a K×K one).

    Per class: IoU = TP / (GT + Pred − TP), Acc (= recall) = TP / GT, Dice = 2·TP / (GT + Pred),
    Precision = TP / Pred, F-score = (1 + β²)·P·R / (β²·P + R) (NaN when P = R = 0). A ratio with a zero denominator is NaN
    (a class absent from both prediction and ground truth has NaN IoU; one absent from the ground truth
    has NaN Acc), and the means (mIoU, mAcc, mDice, mFscore, mPrecision, mRecall) skip NaNs.
    aAcc = Σ TP / Σ GT.
    """
    m = matrix.double().cpu()
    tp, gt, pred = class_areas(m)
    nan = torch.tensor(math.nan, dtype=torch.float64)

    def ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        return torch.where(den > 0, num / den.clamp_min(1e-300), nan)

    iou = ratio(tp, gt + pred - tp)
    recall = ratio(tp, gt)
    precision = ratio(tp, pred)
    dice = ratio(2 * tp, gt + pred)
    b2 = beta * beta
    # As in mmsegmentation, P = R = 0 gives 0/0 = NaN, which mFscore then skips.
    fscore = (1 + b2) * precision * recall / (b2 * precision + recall)
    return {
        "aAcc": float(tp.sum() / gt.sum()) if gt.sum() > 0 else math.nan,
        "mIoU": _nanmean(iou),
        "mAcc": _nanmean(recall),
        "mDice": _nanmean(dice),
        "mFscore": _nanmean(fscore),
        "mPrecision": _nanmean(precision),
        "mRecall": _nanmean(recall),
        "IoU": iou.tolist(),
        "Acc": recall.tolist(),
        "Dice": dice.tolist(),
        "Fscore": fscore.tolist(),
        "Precision": precision.tolist(),
        "Recall": recall.tolist(),
    }


def format_table(metrics: dict[str, object], class_names: Sequence[str]) -> str:
    """A per-class table (IoU, Acc, Dice, F-score in %) followed by the summary line."""
    width = max(10, *(len(n) for n in class_names))
    rows = [f"{'class':<{width}}  {'IoU':>6}  {'Acc':>6}  {'Dice':>6}  {'Fscore':>6}"]

    def pct(v: float) -> str:
        return "   nan" if math.isnan(v) else f"{100 * v:6.2f}"

    for i, name in enumerate(class_names):
        rows.append(f"{name:<{width}}  {pct(metrics['IoU'][i])}  {pct(metrics['Acc'][i])}  "
                    f"{pct(metrics['Dice'][i])}  {pct(metrics['Fscore'][i])}")
    rows.append("summary: " + "  ".join(f"{k} {pct(float(metrics[k])).strip()}" for k in
                                         ("aAcc", "mIoU", "mAcc", "mDice", "mFscore")))
    return "\n".join(rows)
