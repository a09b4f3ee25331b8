"""Streaming confusion matrix and the standard segmentation metrics computed from it."""

from __future__ import annotations

import torch
import torch.distributed as dist


class ConfusionMatrix:
    """Accumulates a K×K confusion matrix (rows: ground truth, columns: prediction) on the device.

    Memory does not depend on the dataset size; ``all_reduce`` sums it across processes.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, device: torch.device | str = "cpu") -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    @torch.no_grad()
    def update(self, predictions: torch.Tensor, targets: torch.Tensor) -> None:
        """Add a batch of label maps (same shape; ignored and out-of-range targets are skipped)."""
        k = self.num_classes
        valid = (targets >= 0) & (targets < k) & (targets != self.ignore_index)
        index = targets[valid].to(torch.int64) * k + predictions[valid].to(torch.int64)
        self.matrix += torch.bincount(index, minlength=k * k).view(k, k).to(self.matrix.device)

    def all_reduce(self) -> None:
        """Sum over all processes (no-op without torch.distributed)."""
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.matrix)

    def metrics(self) -> dict[str, object]:
        """aAcc, mIoU, mAcc, mDice and per-class IoU/accuracy (NaN for classes absent from both
        prediction and ground truth, which the means skip)."""
        m = self.matrix.double().cpu()
        tp = m.diag()
        gt = m.sum(1)
        pred = m.sum(0)
        union = gt + pred - tp
        iou = tp / union
        acc = tp / gt
        dice = 2 * tp / (gt + pred)
        return {
            "aAcc": float(tp.sum() / m.sum().clamp_min(1)),
            "mIoU": float(torch.nanmean(iou)),
            "mAcc": float(torch.nanmean(acc)),
            "mDice": float(torch.nanmean(dice)),
            "IoU": iou.tolist(),
            "Acc": acc.tolist(),
        }
