"""A/B comparison of two segmentors on the same images: mIoU difference with a paired bootstrap
interval over images, per-class IoU deltas, and the images where the two disagree most."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..atomic import write_image
from ..data.datasets.base import SegmentationDataset
from ..devices import parse_device
from ..models.config import InferenceConfig
from ..models.protocol import SegmentationModel
from .confusion import ConfusionMatrix, class_areas, confusion_of
from .inference import TTAConfig, predict_labels


def areas_of_confusion(confusion: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-class intersection and union pixel counts (int64 arrays of length K) of one image's
    confusion matrix."""
    tp, gt, pred = class_areas(confusion.cpu())
    return tp.numpy().astype(np.int64), (gt + pred - tp).numpy().astype(np.int64)


def iou_of_areas(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Per-class IoU of summed areas (NaN where a class has zero union), for ``(..., K)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / np.maximum(union, 1), np.nan)


def miou_of_areas(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """mIoU of summed areas along the last axis (classes with zero union are skipped), for ``(..., K)``."""
    return np.nanmean(iou_of_areas(intersection, union), axis=-1)


def paired_bootstrap(
    inter_a: np.ndarray, union_a: np.ndarray, inter_b: np.ndarray, union_b: np.ndarray,
    resamples: int = 1000, seed: int = 0, level: float = 0.95,
) -> tuple[float, float, float]:
    """Observed mIoU(B) − mIoU(A) and its percentile bootstrap interval, resampling images with
    replacement (the same images for both models). Inputs are per-image ``(N, K)`` areas."""
    n = inter_a.shape[0]
    observed = float(miou_of_areas(inter_b.sum(0), union_b.sum(0)) - miou_of_areas(inter_a.sum(0), union_a.sum(0)))
    if n < 2:
        return observed, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)  # (R, N)
    deltas = miou_of_areas(counts @ inter_b, counts @ union_b) - miou_of_areas(counts @ inter_a, counts @ union_a)
    alpha = (1 - level) / 2
    low, high = np.quantile(deltas, [alpha, 1 - alpha])
    return observed, float(low), float(high)


def independent_bootstrap(
    inter_a: np.ndarray, union_a: np.ndarray, inter_b: np.ndarray, union_b: np.ndarray,
    resamples: int = 1000, seed: int = 0, level: float = 0.95,
) -> tuple[float, float, float]:
    """As :func:`paired_bootstrap` for two different image sets (an A/B split of live traffic): each
    model's images are resampled on their own. Inputs are per-image ``(N_a, K)`` and ``(N_b, K)`` areas."""
    observed = float(miou_of_areas(inter_b.sum(0), union_b.sum(0)) - miou_of_areas(inter_a.sum(0), union_a.sum(0)))
    if inter_a.shape[0] < 2 or inter_b.shape[0] < 2:
        return observed, float("nan"), float("nan")
    rng = np.random.default_rng(seed)

    def resampled_miou(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
        n = inter.shape[0]
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
        return miou_of_areas(counts @ inter, counts @ union)

    with np.errstate(invalid="ignore"):
        deltas = resampled_miou(inter_b, union_b) - resampled_miou(inter_a, union_a)
    alpha = (1 - level) / 2
    low, high = np.nanquantile(deltas, [alpha, 1 - alpha])
    return observed, float(low), float(high)


@dataclass(order=True)
class _Disagreement:
    score: float
    index: int
    prediction_a: np.ndarray = field(compare=False)
    prediction_b: np.ndarray = field(compare=False)
    label: np.ndarray = field(compare=False)


@torch.no_grad()
def compare_models(
    model_a: SegmentationModel,
    model_b: SegmentationModel,
    dataset: SegmentationDataset,
    device: torch.device | str = "cpu",
    inference_a: InferenceConfig | None = None,
    inference_b: InferenceConfig | None = None,
    tta: TTAConfig | None = None,
    gallery_size: int = 8,
    resamples: int = 1000,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate both models in one pass over ``dataset``; returns both metric sets, the mIoU difference
    (B − A) with a paired bootstrap 95 % interval over images, per-class IoU deltas sorted from the
    largest gain, and the ``gallery_size`` images where the predictions disagree most (kept in a
    bounded heap: memory does not grow with the dataset)."""
    from tqdm import tqdm

    info = dataset.info
    k = info.num_classes
    device = parse_device(device)
    model_a.eval().to(device)
    model_b.eval().to(device)
    cms = [ConfusionMatrix(k, info.ignore_index, device) for _ in range(2)]
    areas: list[list[np.ndarray]] = [[], [], [], []]
    heap: list[_Disagreement] = []
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for i in tqdm(range(n), desc="compare", disable=not progress, dynamic_ncols=True):
        sample = dataset[i]
        image = sample["image"].unsqueeze(0).to(device)
        label = sample["label"].to(device)
        preds = []
        for model, inference, cm in ((model_a, inference_a, cms[0]), (model_b, inference_b, cms[1])):
            pred = predict_labels(model, image, inference, label.shape, tta, info.flip_pairs)[0]
            confusion = confusion_of(pred, label, k, info.ignore_index)
            cm.matrix += confusion
            inter, union = areas_of_confusion(confusion)
            areas[2 * len(preds)].append(inter)
            areas[2 * len(preds) + 1].append(union)
            preds.append(pred)
        valid = (label != info.ignore_index) & (label >= 0) & (label < k)
        score = float(((preds[0] != preds[1]) & valid).sum()) / max(1, int(valid.sum()))
        if gallery_size > 0 and (len(heap) < gallery_size or score > heap[0].score):
            entry = _Disagreement(score, i, preds[0].cpu().numpy().astype(np.uint8),
                                  preds[1].cpu().numpy().astype(np.uint8), label.cpu().numpy())
            (heapq.heappush if len(heap) < gallery_size else heapq.heapreplace)(heap, entry)
    metrics_a, metrics_b = cms[0].metrics(), cms[1].metrics()
    ia, ua, ib, ub = (np.stack(a) for a in areas)
    delta, low, high = paired_bootstrap(ia, ua, ib, ub, resamples, seed)
    iou_a, iou_b = np.array(metrics_a["IoU"]), np.array(metrics_b["IoU"])
    per_class = [(info.classes[c], float(iou_a[c]), float(iou_b[c]), float(iou_b[c] - iou_a[c]))
                 for c in range(k) if not (np.isnan(iou_a[c]) and np.isnan(iou_b[c]))]
    per_class.sort(key=lambda r: -np.nan_to_num(r[3], nan=-np.inf))
    return {
        "num_images": n, "metrics_a": metrics_a, "metrics_b": metrics_b,
        "delta_mIoU": delta, "ci95": (low, high), "resamples": resamples,
        "per_class": per_class, "disagreements": sorted(heap, reverse=True),
    }


def write_gallery(
    result: dict[str, Any], dataset: SegmentationDataset, out_dir: str | Path, names: Sequence[str] = ("A", "B")
) -> list[Path]:
    """One PNG per disagreement: image | ground truth | A | B, with captions."""
    import cv2

    from ..data.labels import read_image
    from ..visualization import colorize, side_by_side, with_legend

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    palette, ignore = dataset.info.palette, dataset.info.ignore_index
    paths = []
    for rank, d in enumerate(result["disagreements"]):
        h, w = d.label.shape
        image = read_image(dataset.samples[d.index].image)
        if image.shape[:2] != (h, w):
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        panels = [image, colorize(d.label, palette, ignore), colorize(d.prediction_a, palette, ignore),
                  colorize(d.prediction_b, palette, ignore)]
        if h < 192:  # small images are enlarged (nearest) so the captions and labels stay readable
            factor = -(-192 // h)
            h, w = h * factor, w * factor
            panels = [cv2.resize(p, (w, h), interpolation=cv2.INTER_NEAREST) for p in panels]
        captions = ["image", "ground truth", f"A: {names[0]}", f"B: {names[1]}"]
        scale = max(0.35, min(1.0, w / 500))
        bar = int(28 * scale) + 6
        captioned = []
        for panel, caption in zip(panels, captions):
            strip = np.full((bar, w, 3), 255, dtype=np.uint8)
            cv2.putText(strip, caption[:40], (4, bar - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), 1, cv2.LINE_AA)
            captioned.append(np.concatenate([strip, panel], axis=0))
        picture = with_legend(side_by_side(captioned), [d.label, d.prediction_a, d.prediction_b],
                              dataset.info.classes, palette, ignore)
        name = Path(dataset.samples[d.index].id).name
        path = out / f"{rank:02d}_{name}_disagree{100 * d.score:.0f}.png"
        write_image(path, picture)
        paths.append(path)
    return paths


def format_comparison(result: dict[str, Any], names: Sequence[str] = ("A", "B"), top: int = 10) -> str:
    """Console report: both mIoUs, the difference with its interval, the largest per-class changes."""
    a, b = result["metrics_a"]["mIoU"], result["metrics_b"]["mIoU"]
    low, high = result["ci95"]
    lines = [
        f"A {names[0]}: mIoU {100 * a:.2f}",
        f"B {names[1]}: mIoU {100 * b:.2f}",
        f"B − A: {100 * result['delta_mIoU']:+.2f} mIoU, 95 % paired bootstrap interval over "
        f"{result['num_images']} images [{100 * low:+.2f}, {100 * high:+.2f}] ({result['resamples']} resamples)",
        "per-class IoU change (B − A), largest gains first:",
    ]
    rows = result["per_class"]
    shown = rows if len(rows) <= 2 * top else rows[:top] + [None] + rows[-top:]
    width = max([10] + [len(r[0]) for r in rows])
    for r in shown:
        if r is None:
            lines.append("  …")
            continue
        lines.append(f"  {r[0]:<{width}}  {100 * r[1]:6.2f} → {100 * r[2]:6.2f}  ({100 * r[3]:+.2f})")
    return "\n".join(lines)
