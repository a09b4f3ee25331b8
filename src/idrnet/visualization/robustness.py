"""Pictures of a robustness report: mIoU against severity per corruption, rPC per corruption, and one
image under each corruption with the models' predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.description import IGNORE_INDEX
from .legend import present_classes
from .overlay import colorize
from .relations import save_figure

_COLOURS = ("#1f77b4", "#d62728")  # A blue, B red, in every plot


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def severity_curves(report: dict[str, Any], path: str | Path) -> Path:
    """One small plot per corruption: mIoU (%) against severity for each model, the clean mIoU at
    severity 0, the paired interval of B − A shaded around B where there is one."""
    plt = _pyplot()
    corruptions, severities = report["corruptions"], report["severities"]
    columns = min(5, max(1, len(corruptions)))
    rows = max(1, -(-len(corruptions) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.2 * rows + 0.6), squeeze=False, sharey=True)
    models = report["models"]
    for ax, corruption in zip(axes.flat, corruptions):
        for (key, model), colour in zip(models.items(), _COLOURS):
            ys = [model["clean_miou"]] + [model["cells"][corruption][str(s)]["miou"] for s in severities]
            ax.plot([0, *severities], [100 * y for y in ys], marker="o", ms=3, color=colour, label=f"{key}: {model['name']}")
        if "difference" in report and all(report["difference"]["cells"][corruption][str(s)]["ci95"][0] is not None
                                          and np.isfinite(report["difference"]["cells"][corruption][str(s)]["ci95"][0])
                                          for s in severities):
            a = np.array([models["A"]["cells"][corruption][str(s)]["miou"] for s in severities])
            lo = np.array([report["difference"]["cells"][corruption][str(s)]["ci95"][0] for s in severities])
            hi = np.array([report["difference"]["cells"][corruption][str(s)]["ci95"][1] for s in severities])
            ax.fill_between(severities, 100 * (a + lo), 100 * (a + hi), color=_COLOURS[1], alpha=0.15, lw=0)
        ax.set_title(corruption.replace("_", " "), fontsize=9)
        ax.set_xticks([0, *severities], ["clean", *map(str, severities)], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(corruptions):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("mIoU (%)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    note = " (shade: B's 95 % paired interval)" if "difference" in report else ""
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"mIoU against severity{note}", y=0.005, va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 0.94))
    return save_figure(fig, path, dpi=100)


def rpc_bars(report: dict[str, Any], path: str | Path) -> Path:
    """rPC (mPC of a corruption / clean mIoU, %) per corruption, one bar per model, and overall."""
    plt = _pyplot()
    names = [*report["corruptions"], "overall"]
    models = report["models"]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(names) * len(models) + 1.5), 3.6))
    width = 0.8 / len(models)
    x = np.arange(len(names))
    for i, ((key, model), colour) in enumerate(zip(models.items(), _COLOURS)):
        values = [model["per_corruption"][c]["rpc"] for c in report["corruptions"]] + [model["rpc"]]
        values = [100 * v if v is not None and np.isfinite(v) else 0.0 for v in values]
        ax.bar(x + (i - (len(models) - 1) / 2) * width, values, width, color=colour, label=f"{key}: {model['name']}")
    ax.axhline(100, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, [n.replace("_", " ") for n in names], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("rPC (%) = mPC / clean mIoU")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def example_grid(
    rows: Sequence[tuple[str, np.ndarray, Sequence[np.ndarray]]], label: np.ndarray, model_names: Sequence[str],
    classes: Sequence[str], palette: Sequence[Sequence[int]], path: str | Path, ignore_index: int = IGNORE_INDEX,
) -> Path:
    """A grid with one row per condition — (title, RGB image, one prediction per model) — and the
    columns image | ground truth | each model's prediction, with a legend of the classes shown."""
    plt = _pyplot()
    from matplotlib.patches import Patch

    columns = 2 + len(model_names)
    h, w = label.shape
    cell = 2.0
    fig, axes = plt.subplots(len(rows), columns, figsize=(cell * columns * max(1.0, w / h) + 1.7, cell * len(rows) + 0.4),
                             squeeze=False)
    truth = colorize(label, palette, ignore_index)
    headers = ["image", "ground truth", *model_names]
    for r, (title, image, predictions) in enumerate(rows):
        panels = [image, truth, *(colorize(p, palette, ignore_index) for p in predictions)]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(headers[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(title.replace("_", " "), fontsize=8)
    shown = present_classes(label, *(p for _, _, preds in rows for p in preds), ignore_index=ignore_index)[:24]
    handles = [Patch(color=np.asarray(palette[k]) / 255.0, label=classes[k] if k < len(classes) else str(k))
               for k in shown if k < len(palette)]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 1.7 / fig.get_figwidth(), 1))
    return save_figure(fig, path, dpi=90)
