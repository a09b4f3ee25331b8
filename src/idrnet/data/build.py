"""Datasets and their pipelines from a :class:`DataConfig`; the data description stored with a model."""

from __future__ import annotations

from pathlib import Path

from .config import DataConfig
from .datasets.base import SegmentationDataset
from .description import DataDescription
from .official import RECIPES, PipelineRecipe


def pipeline_recipe(data: DataConfig) -> PipelineRecipe:
    """The official recipe named by ``data.recipe``, or one made of the config's own values."""
    from ..config import ConfigError

    if data.recipe is not None:
        if data.recipe not in RECIPES:
            raise ConfigError(f"data.recipe: unknown {data.recipe!r}; expected one of {', '.join(RECIPES)}")
        return RECIPES[data.recipe]
    return PipelineRecipe(tuple(data.scale), tuple(data.crop), tuple(data.ratio_range), True, data.test_scale)


def open_dataset(kind: str, root: str | Path, split: str) -> tuple[SegmentationDataset, list[str]]:
    """A split of a custom dataset folder (``kind`` ``"custom"``) or of a benchmark (``kind`` its name),
    without a pipeline, with the problems found in the files (unpaired, missing) instead of an error."""
    from .datasets.benchmarks import open_benchmark
    from .datasets.custom import open_custom

    return open_custom(root, split) if kind == "custom" else open_benchmark(kind, root, split)


def require_labels(data: DataConfig, split: str, purpose: str) -> None:
    """Refuse a split whose images have no labels at all (a test split), naming it: evaluations are
    measured against ground truth, and the pairing error would list every image."""
    from ..errors import InputError

    probe, problems = open_dataset(data.type, data.root, split)
    unlabelled = [str(s.image) for s in probe.samples if s.label is None] + [
        p.split(": ", 1)[1] for p in problems if p.startswith("image without label")]
    if unlabelled and not any(s.label is not None for s in probe.samples):
        raise InputError(f"split {split} has no labels ({unlabelled[0]} and {len(unlabelled) - 1} more images): "
                         f"{purpose} is measured against ground truth; choose a labelled split (idrnet predict "
                         "segments unlabelled images)")


def build_split(data: DataConfig, split: str, train: bool, seed: int = 0) -> SegmentationDataset:
    """One split with the training or the evaluation pipeline. The pipeline pads and fills with the
    dataset's own ignore label (the one owner of that value)."""
    from .datasets.benchmarks import build_benchmark
    from .datasets.custom import build_custom

    recipe = pipeline_recipe(data)
    if data.type == "custom":
        dataset = build_custom(data.root, split, None, seed, data.skip_bad_samples)
    else:
        dataset = build_benchmark(data.type, data.root, split, None, seed, data.skip_bad_samples)
    ignore = dataset.info.ignore_index
    dataset.pipeline = recipe.train(ignore) if train else recipe.test(ignore)
    return dataset


def build_datasets(data: DataConfig, seed: int = 0) -> tuple[SegmentationDataset, SegmentationDataset]:
    """Train and validation datasets; an empty split is an error naming it."""
    from ..config import ConfigError

    train = build_split(data, data.train_split, True, seed)
    try:
        val = build_split(data, data.val_split, False, seed)
    except FileNotFoundError as err:
        if data.type != "custom":
            raise
        raise FileNotFoundError(f"{err}. Training validates on data.val_split ({data.val_split!r}): make that split "
                                "(e.g. move about a tenth of the images and their masks into images/val and masks/val) or "
                                "name another one (--set data.val_split=NAME)") from None
    for name, dataset in ((data.train_split, train), (data.val_split, val)):
        if len(dataset) == 0:
            raise ConfigError(f"data: no samples found in split {name!r} under {data.root}")
    return train, val


def run_description(data: DataConfig, dataset: SegmentationDataset) -> DataDescription:
    """The dataset's description with the run's test-time resize: what a model trained on ``dataset``
    must know at prediction time (stored in its checkpoints)."""
    recipe = pipeline_recipe(data)
    return dataset.info.with_test_resize(tuple(recipe.test_scale or recipe.scale), recipe.keep_ratio)
