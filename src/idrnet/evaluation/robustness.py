"""The robustness sweep (issue 27): one or two models over a split, clean and under every (corruption,
severity) cell. Each image is corrupted once, in a DataLoader worker, and shown to every model; each
cell's per-image areas are written as the cell completes, so a killed sweep continues where it stopped
and gives the numbers an uninterrupted one gives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..atomic import atomic_path, write_image
from ..data.corruptions import corrupt, corruption_seed
from ..data.datasets.base import SegmentationDataset
from ..devices import parse_device
from ..errors import InputError
from ..models.config import InferenceConfig
from ..models.protocol import SegmentationModel
from .compare import iou_of_areas, miou_of_areas
from .confusion import class_areas, confusions_of
from .inference import TTAConfig, predict_labels
from .robustness_stats import mean_performance, paired_cell_bootstrap, relative_performance

CLEAN = "clean"


@dataclass(frozen=True)
class Cell:
    """One condition of the sweep: a corruption at a severity, or the clean images (severity 0)."""

    corruption: str
    severity: int = 0

    @property
    def key(self) -> str:
        """The cell's file stem and report key: ``clean`` or ``fog-3``."""
        return CLEAN if self.corruption == CLEAN else f"{self.corruption}-{self.severity}"


def sweep_cells(corruptions: Sequence[str], severities: Sequence[int]) -> list[Cell]:
    """The clean cell, then each corruption at each severity."""
    return [Cell(CLEAN)] + [Cell(c, s) for c in corruptions for s in severities]


class CellImages(torch.utils.data.Dataset):
    """The (cell, image) pairs of ``cells``, cell after cell: the image corrupted for its cell (seeded by
    image id, corruption and severity), then the dataset's evaluation pipeline. The first
    ``save_examples`` corrupted images of each cell are also written under ``examples_dir``."""

    def __init__(self, dataset: SegmentationDataset, cells: Sequence[Cell], count: int, seed: int = 0,
                 save_examples: int = 0, examples_dir: Path | None = None) -> None:
        self.dataset, self.cells, self.count, self.seed = dataset, list(cells), count, seed
        self.save_examples, self.examples_dir = save_examples, examples_dir

    def __len__(self) -> int:
        return len(self.cells) * self.count

    def corrupted(self, cell: Cell, index: int) -> dict[str, Any]:
        """Sample ``index`` as read (RGB uint8 image, label), its image under ``cell``'s corruption."""
        sample = self.dataset.load(index)
        if cell.corruption != CLEAN:
            seed = corruption_seed(str(sample["id"]), cell.corruption, cell.severity, self.seed)
            sample["image"] = corrupt(sample["image"], cell.corruption, cell.severity, seed)
        return sample

    def __getitem__(self, item: int) -> tuple[int, int, torch.Tensor, torch.Tensor]:
        position, index = divmod(item, self.count)
        cell = self.cells[position]
        sample = self.corrupted(cell, index)
        if index < self.save_examples and self.examples_dir is not None and cell.corruption != CLEAN:
            path = self.examples_dir / cell.corruption / str(cell.severity) / f"{sample['id']}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_image(path, sample["image"])
        # the evaluation pipeline draws nothing at random; the generator is there for its signature
        sample = self.dataset.pipeline(sample, np.random.default_rng(index))
        return position, index, sample["image"], sample["label"]


def cell_batches(cells: int, count: int, batch_size: int) -> list[list[int]]:
    """``CellImages`` items in batches of at most ``batch_size`` that never span two cells and always cut a
    cell at the same images, so a resumed sweep batches (and rounds) each cell as an uninterrupted one."""
    return [list(range(c * count + start, c * count + min(start + batch_size, count)))
            for c in range(cells) for start in range(0, count, batch_size)]


def _as_list(items: list) -> list:
    return items


def _same_shape_groups(items: Sequence[tuple[int, int, torch.Tensor, torch.Tensor]]) -> list[list[int]]:
    """Positions in ``items`` grouped by image and label shape (a dataset's images may differ in size)."""
    groups: dict[tuple, list[int]] = {}
    for i, (_, _, image, label) in enumerate(items):
        groups.setdefault((tuple(image.shape), tuple(label.shape)), []).append(i)
    return list(groups.values())


def cell_file(cell_dir: Path, cell: Cell) -> Path:
    """Where a finished cell's areas are kept."""
    return Path(cell_dir) / f"{cell.key}.npz"


@torch.no_grad()
def run_sweep(
    models: Sequence[SegmentationModel],
    inferences: Sequence[InferenceConfig | None],
    dataset: SegmentationDataset,
    cells: Sequence[Cell],
    cell_dir: str | Path,
    count: int,
    device: torch.device | str = "cpu",
    tta: TTAConfig | None = None,
    workers: int = 2,
    seed: int = 0,
    save_examples: int = 0,
    examples_dir: str | Path | None = None,
    progress: bool = False,
    batch_size: int = 4,
) -> None:
    """Evaluate every model on the first ``count`` images of ``dataset`` for each cell whose file is not
    in ``cell_dir`` yet, and write it there (``(models, images, classes)`` intersection and union pixel
    counts) as soon as its last image is done. Images of one cell and one size go through each model
    ``batch_size`` at a time."""
    from tqdm import tqdm

    cell_dir = Path(cell_dir)
    cell_dir.mkdir(parents=True, exist_ok=True)
    todo = [cell for cell in cells if not cell_file(cell_dir, cell).is_file()]
    done = len(cells) - len(todo)
    bar = tqdm(total=len(cells) * count, initial=done * count, desc="robustness", unit="img",
               disable=not progress, dynamic_ncols=True)
    if not todo:
        bar.close()
        return
    info = dataset.info
    k = info.num_classes
    device = parse_device(device)
    for model in models:
        model.eval().to(device)
    images = CellImages(dataset, todo, count, seed, save_examples, Path(examples_dir) if examples_dir else None)
    loader = torch.utils.data.DataLoader(images, batch_sampler=cell_batches(len(todo), count, batch_size),
                                         collate_fn=_as_list, num_workers=workers,
                                         prefetch_factor=max(1, 16 // batch_size) if workers else None,
                                         persistent_workers=False)
    areas = np.zeros((2, len(models), count, k), dtype=np.int64)
    try:
        for batch in loader:
            position = batch[0][0]
            bar.set_postfix_str(todo[position].key, refresh=False)
            for group in _same_shape_groups(batch):
                indices = [batch[i][1] for i in group]
                image = torch.stack([batch[i][2] for i in group]).to(device)
                label = torch.stack([batch[i][3] for i in group]).to(device)
                for m, (model, inference) in enumerate(zip(models, inferences)):
                    prediction = predict_labels(model, image, inference, label.shape[1:], tta, info.flip_pairs)
                    confusion = confusions_of(prediction, label, k, info.ignore_index).cpu()
                    tp, gt, predicted = class_areas(confusion)
                    areas[0, m, indices] = tp.numpy()
                    areas[1, m, indices] = (gt + predicted - tp).numpy()
            bar.update(len(batch))
            if batch[-1][1] == count - 1:  # batches end where cells end
                with atomic_path(cell_file(cell_dir, todo[position])) as tmp, open(tmp, "wb") as f:
                    np.savez_compressed(f, intersection=areas[0], union=areas[1])  # a file: no suffix appended
                areas[:] = 0
    finally:
        bar.close()


@torch.no_grad()
def example_rows(
    models: Sequence[SegmentationModel], inferences: Sequence[InferenceConfig | None], images: CellImages,
    severity: int, device: torch.device | str = "cpu", index: int = 0, tta: TTAConfig | None = None,
) -> tuple[list[tuple[str, np.ndarray, list[np.ndarray]]], np.ndarray]:
    """Image ``index`` clean and under each corruption of ``images`` at ``severity``, with each model's
    prediction: rows of (title, RGB image, predictions) and the ground truth."""
    info = images.dataset.info
    corruptions = list(dict.fromkeys(c.corruption for c in images.cells if c.corruption != CLEAN))
    rows, label = [], None
    for cell in [Cell(CLEAN)] + [Cell(c, severity) for c in corruptions]:
        sample = images.corrupted(cell, index)
        rgb = sample["image"]
        prepared = images.dataset.pipeline(dict(sample), np.random.default_rng(index))
        image = prepared["image"].unsqueeze(0).to(device)
        label = prepared["label"].numpy()
        predictions = [predict_labels(model, image, inference, label.shape, tta, info.flip_pairs)[0].cpu().numpy()
                       for model, inference in zip(models, inferences)]
        rows.append((cell.key.replace("-", " "), rgb, predictions))
    return rows, label


def load_cells(cell_dir: str | Path, cells: Sequence[Cell], models: int, count: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The finished cells' areas as ``(models, cells, images, classes)`` intersection and union arrays; a
    file of another shape (another run's) is named."""
    inter = np.zeros((models, len(cells), count, classes), dtype=np.int64)
    union = np.zeros_like(inter)
    for c, cell in enumerate(cells):
        path = cell_file(Path(cell_dir), cell)
        with np.load(path) as stored:
            if stored["intersection"].shape != (models, count, classes):
                raise InputError(f"{path}: holds {stored['intersection'].shape} areas (models, images, classes), this "
                                 f"run needs {(models, count, classes)}; it belongs to another run")
            inter[:, c], union[:, c] = stored["intersection"], stored["union"]
    return inter, union


def _iou(inter: np.ndarray, union: np.ndarray) -> list[float]:
    return iou_of_areas(inter, union).tolist()


def _interval(observed: float, low: float, high: float) -> dict[str, Any]:
    return {"value": observed, "ci95": [low, high]}


def summarise(
    inter: np.ndarray, union: np.ndarray, cells: Sequence[Cell], names: Sequence[str],
    resamples: int = 1000, seed: int = 0,
) -> dict[str, Any]:
    """The report of a finished sweep: per model clean mIoU, mIoU and per-class IoU per cell, mPC and
    rPC (overall and per corruption); for two models the paired difference B − A of mPC, of the clean
    mIoU, per corruption, per severity and per cell, with bootstrap 95 % intervals over images (one
    resampling of the images for every cell and both models)."""
    corrupted = [c for c, cell in enumerate(cells) if cell.corruption != CLEAN]
    clean = [c for c, cell in enumerate(cells) if cell.corruption == CLEAN]
    corruptions = list(dict.fromkeys(cells[c].corruption for c in corrupted))
    severities = sorted({cells[c].severity for c in corrupted})
    sums_i, sums_u = inter.sum(2), union.sum(2)  # (M, C, K)
    miou = miou_of_areas(sums_i, sums_u)  # (M, C)
    models: dict[str, Any] = {}
    for m, name in enumerate(names):
        clean_miou = float(miou[m, clean[0]])
        mpc = mean_performance(miou[m, corrupted]) if corrupted else float("nan")
        by_corruption = {c: mean_performance([miou[m, i] for i in corrupted if cells[i].corruption == c]) for c in corruptions}
        models["AB"[m]] = {
            "name": name, "clean_miou": clean_miou, "clean_iou": _iou(sums_i[m, clean[0]], sums_u[m, clean[0]]),
            "mpc": mpc, "rpc": relative_performance(mpc, clean_miou),
            "per_corruption": {c: {"mpc": v, "rpc": relative_performance(v, clean_miou)} for c, v in by_corruption.items()},
            "cells": {c: {str(cells[i].severity): {"miou": float(miou[m, i]), "iou": _iou(sums_i[m, i], sums_u[m, i])}
                          for i in corrupted if cells[i].corruption == c} for c in corruptions},
        }
    report: dict[str, Any] = {"models": models, "corruptions": corruptions, "severities": severities,
                              "images": int(inter.shape[2]), "resamples": resamples, "seed": seed}
    if len(names) == 2:
        groups: dict[str, Sequence[int]] = {"mpc": corrupted, "clean": clean}
        groups.update({f"corruption:{c}": [i for i in corrupted if cells[i].corruption == c] for c in corruptions})
        groups.update({f"severity:{s}": [i for i in corrupted if cells[i].severity == s] for s in severities})
        groups.update({f"cell:{cells[i].key}": [i] for i in corrupted})
        if not corrupted:
            del groups["mpc"]
        stats = paired_cell_bootstrap(inter[0], union[0], inter[1], union[1], groups, resamples, seed)
        report["difference"] = {
            "mpc": _interval(*stats["mpc"]) if corrupted else None,
            "clean": _interval(*stats["clean"]),
            "per_corruption": {c: _interval(*stats[f"corruption:{c}"]) for c in corruptions},
            "per_severity": {str(s): _interval(*stats[f"severity:{s}"]) for s in severities},
            "cells": {c: {str(cells[i].severity): _interval(*stats[f"cell:{cells[i].key}"])
                          for i in corrupted if cells[i].corruption == c} for c in corruptions},
        }
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as Markdown tables: the summary per model, mIoU per corruption (mean over severities)
    and per severity, and for two models the differences with their intervals."""
    models = report["models"]
    keys = list(models)
    pair = "difference" in report

    def pct(x: float | None) -> str:
        return "–" if x is None or x != x else f"{100 * x:.2f}"

    def diff(entry: dict[str, Any] | None) -> str:
        if not entry:
            return "–"
        lo, hi = entry["ci95"]
        interval = "" if lo is None or lo != lo else f" [{100 * lo:+.2f}, {100 * hi:+.2f}]"
        return f"{100 * entry['value']:+.2f}{interval}"

    lines = [f"# Robustness: {' vs '.join(models[k]['name'] for k in keys)}", "",
             f"{report['images']} images; corruptions: {', '.join(report['corruptions']) or 'none'}; "
             f"severities: {', '.join(map(str, report['severities'])) or 'none'}. mPC: mean mIoU over the "
             "corruption × severity cells; rPC = mPC / clean mIoU." + (
                 f" B − A: paired difference, 95 % bootstrap interval over images ({report['resamples']} resamples)."
                 if pair else ""), "",
             "| model | clean mIoU | mPC | rPC |", "|---|---:|---:|---:|"]
    for k in keys:
        lines.append(f"| {k}: {models[k]['name']} | {pct(models[k]['clean_miou'])} | {pct(models[k]['mpc'])} | "
                     f"{pct(models[k]['rpc'])} |")
    if pair:
        d = report["difference"]
        lines.append(f"| B − A | {diff(d['clean'])} | {diff(d['mpc'])} | |")
    header = "| corruption | " + " | ".join(f"{k} mIoU" for k in keys) + (" | B − A |" if pair else " |")
    lines += ["", "## Per corruption (mean over severities)", "", header,
              "|---|" + "---:|" * (len(keys) + pair)]
    for c in report["corruptions"]:
        row = [pct(models[k]["per_corruption"][c]["mpc"]) for k in keys]
        if pair:
            row.append(diff(report["difference"]["per_corruption"][c]))
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    lines += ["", "## Per severity (mean over corruptions)", "",
              header.replace("corruption", "severity", 1), "|---|" + "---:|" * (len(keys) + pair)]
    for s in report["severities"]:
        row = [pct(float(np.mean([models[k]["cells"][c][str(s)]["miou"] for c in report["corruptions"]]))) for k in keys]
        if pair:
            row.append(diff(report["difference"]["per_severity"][str(s)]))
        lines.append(f"| {s} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
