"""Evaluate a segmentor over a dataset: streaming confusion matrix, optional saved predictions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from ..data.datasets.base import SegmentationDataset
from ..devices import parse_device
from ..distributed import world_info
from ..models.config import InferenceConfig
from ..models.protocol import SegmentationModel
from .confusion import ConfusionMatrix, confusion_of
from .inference import TTAConfig, predict_labels

PredictionFormat = Literal["train_id", "cityscapes"]
# Called once per image with (index, prediction, label) on the device, e.g. to collect per-image stats.
ImageHook = Callable[[int, torch.Tensor, torch.Tensor], None]


def sample_name(dataset: SegmentationDataset, index: int) -> str:
    """The file stem of sample ``index`` (used to name saved predictions)."""
    return Path(dataset.samples[index].id).name


def save_label_png(prediction: np.ndarray, path: Path, palette=None, format: PredictionFormat = "train_id",
                   num_classes: int | None = None) -> None:
    """Write a label map as an 8-bit PNG (palette mode when a palette is given) or a 16-bit grayscale one
    for models of more than 256 classes; ``cityscapes`` maps train ids to the official label ids for the
    evaluation server. Without ``num_classes`` the labels themselves decide (16-bit when one exceeds 255)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One depth per model, not per image: a folder of one model's predictions should not mix 8- and 16-bit
    # files because some images happen to hold no class above 255.
    if num_classes is not None:
        sixteen_bit = num_classes > 256
    else:
        sixteen_bit = bool(prediction.size) and int(prediction.max()) > 255
    if format == "cityscapes" and not sixteen_bit:
        from ..data.classes import CITYSCAPES_LABEL_TO_TRAIN

        table = np.zeros(256, dtype=np.uint8)
        for label_id, train_id in CITYSCAPES_LABEL_TO_TRAIN.items():
            table[train_id] = label_id
        prediction = table[prediction.astype(np.uint8)]
        palette = None
    from ..atomic import write_pil

    write_pil(path, label_image(prediction, palette, sixteen_bit))


def label_image(prediction: np.ndarray, palette=None, sixteen_bit: bool = False):
    """A label map as a PIL image: 16-bit grayscale when ``sixteen_bit``, else 8-bit (palette mode with
    ``palette``'s colours, whose values stay the class indices)."""
    from PIL import Image

    if sixteen_bit:
        return Image.fromarray(prediction.astype(np.uint16))
    image = Image.fromarray(prediction.astype(np.uint8), mode="L")
    if palette is not None:
        image = image.convert("P")
        image.putpalette([v for colour in list(palette)[:256] for v in colour])
    return image


@torch.no_grad()
def evaluate(
    model: SegmentationModel,
    dataset: SegmentationDataset,
    device: torch.device | str = "cpu",
    inference: InferenceConfig | None = None,
    tta: TTAConfig | None = None,
    save_dir: str | os.PathLike | None = None,
    save_format: PredictionFormat = "train_id",
    progress: bool = False,
    image_hook: ImageHook | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """mmsegmentation-style metrics of ``model`` on ``dataset`` (each process takes every world-th
    image under torch.distributed; the confusion matrix is all-reduced). Memory does not grow with the
    dataset. Predictions are compared with labels at their original size. Restores the model's mode."""
    from tqdm import tqdm

    rank, world, _ = world_info()
    was_training = model.training
    model.eval()
    device = parse_device(device)
    info = dataset.info
    cm = ConfusionMatrix(info.num_classes, info.ignore_index, device)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    indices = range(rank, n, world)
    try:
        for i in tqdm(indices, desc="evaluate", disable=not progress or rank != 0, dynamic_ncols=True):
            sample = dataset[i]
            image = sample["image"].unsqueeze(0).to(device)
            label = sample["label"].to(device)
            prediction = predict_labels(model, image, inference, label.shape, tta, info.flip_pairs)[0]
            cm.matrix += confusion_of(prediction, label, info.num_classes, info.ignore_index)
            if image_hook is not None:
                image_hook(i, prediction, label)
            if save_dir is not None:
                save_label_png(prediction.cpu().numpy(), Path(save_dir) / f"{sample_name(dataset, i)}.png",
                               info.palette if save_format == "train_id" else None, save_format, info.num_classes)
    finally:
        model.train(was_training)
    cm.all_reduce()
    metrics = cm.metrics()
    metrics["num_images"] = n
    return metrics
