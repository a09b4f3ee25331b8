"""What an IDRNet model learned about its classes, and what its relation module does on one image."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..models.segmentor import Segmentor, pad_to_multiple


def _has_idrnet_head(model: Any) -> bool:
    from ..models.heads import IDRNetHead

    return isinstance(getattr(model, "decode_head", None), IDRNetHead)


def learned_relations(model: Segmentor) -> dict[str, torch.Tensor]:
    """The IDRNet head's running statistics: ``mean``/``var`` relation matrices (row = deleted class,
    column = affected class) and ``counter`` (how often each class was deleted in training)."""
    if not _has_idrnet_head(model):
        raise InputError("this model has no IDRNet head, so no learned class relations (is it a baseline?)")
    head = model.decode_head
    return {"mean": head.class_relations_mean.detach().cpu(), "var": head.class_relations_var.detach().cpu(),
            "counter": head.selected_classes_counter.detach().cpu()}


@torch.no_grad()
def explain_image(model: Segmentor, images: torch.Tensor) -> dict[str, Any]:
    """Stage-1 semantic groups of ``images`` ``(1, 3, H, W)`` (normalised) and the share of context each
    present group receives from every other present group (from the mean relation matrix)."""
    if not _has_idrnet_head(model):
        raise InputError("this model has no IDRNet head to explain")
    if not hasattr(model, "backbone"):
        raise InputError("explaining one image needs idrnet's own model (backbone → IDRNet head); for a model IDRNet "
                         "was attached to, the learned relation matrices are available (without --image)")
    model.eval()
    out = model.decode_head.explain(model.backbone(pad_to_multiple(images, model.size_divisor)))
    present = out["present"][0].nonzero().flatten().tolist()
    weights = out["weights_mean"][0].cpu()
    return {"labels": out["labels"][0].cpu().numpy(), "present": present,
            "weights": weights[present][:, present].numpy()}


def plot_image_explanation(
    image_rgb: np.ndarray, explanation: dict[str, Any], class_names: Sequence[str], palette: Sequence[Sequence[int]],
    path: str | Path,
) -> Path:
    """Picture: the image, its stage-1 groups, and for every group a bar split by where its context
    comes from (its own pooled feature vs every other group)."""
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ..visualization import overlay
    from ..visualization.relations import save_figure

    h, w = image_rgb.shape[:2]
    groups = cv2.resize(explanation["labels"].astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    present = explanation["present"]
    weights = explanation["weights"]
    colours = [np.asarray(palette[c]) / 255 for c in present]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1, 1, 1.2]})
    axes[0].imshow(image_rgb)
    axes[0].set_title("image")
    axes[1].imshow(overlay(image_rgb, groups, palette, 0.6))
    axes[1].set_title("stage-1 semantic groups")
    axes[1].legend(handles=[Patch(color=c, label=class_names[k]) for k, c in zip(present, colours)],
                   fontsize=7, loc="lower left", framealpha=0.8)
    for ax in axes[:2]:
        ax.axis("off")
    ax = axes[2]
    left = np.zeros(len(present))
    for j, source in enumerate(present):
        ax.barh(range(len(present)), weights[:, j], left=left, color=colours[j], edgecolor="white", linewidth=0.5)
        left += weights[:, j]
    ax.set_yticks(range(len(present)), [f"{class_names[k]} ({100 * (1 - weights[i, i]):.0f}% from others)"
                                        for i, k in enumerate(present)], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the relation context received, by source group (colour)")
    ax.set_title("context each group received")
    fig.tight_layout()
    return save_figure(fig, path)
