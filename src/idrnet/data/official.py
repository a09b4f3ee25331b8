"""The official pipelines of each benchmark (scale, crop, test resize), as in the official configs."""

from __future__ import annotations

from dataclasses import dataclass

from .classes import LIP_FLIP_PAIRS
from .transforms import Compose, eval_pipeline, train_pipeline
from .description import IGNORE_INDEX


@dataclass(frozen=True)
class PipelineRecipe:
    """Training scale and crop, ratio range, test scale; human parsing adds flips with swaps and rotation."""

    scale: tuple[int, int]
    crop: tuple[int, int]
    ratio_range: tuple[float, float] = (0.5, 2.0)
    keep_ratio: bool = True
    test_scale: tuple[int, int] | None = None
    human_parsing: bool = False

    def train(self, ignore_index: int = IGNORE_INDEX) -> Compose:
        """The training pipeline."""
        pairs = LIP_FLIP_PAIRS if self.human_parsing else ()
        return train_pipeline(self.scale, self.crop, self.ratio_range, self.keep_ratio, ignore_index, pairs,
                              rotate=self.human_parsing)

    def test(self, ignore_index: int = IGNORE_INDEX) -> Compose:
        """The evaluation pipeline (resize the image only)."""
        return eval_pipeline(self.test_scale or self.scale, self.keep_ratio, ignore_index)


RECIPES: dict[str, PipelineRecipe] = {
    "ade20k_512x512": PipelineRecipe((2048, 512), (512, 512)),
    "ade20k_640x640": PipelineRecipe((2560, 640), (640, 640)),
    "cityscapes_512x1024": PipelineRecipe((2048, 1024), (512, 1024)),
    "cocostuff10k_512x512": PipelineRecipe((2048, 512), (512, 512)),
    "cocostuff10k_640x640": PipelineRecipe((2560, 640), (640, 640)),
    "pascalcontext59_640x640": PipelineRecipe((2560, 640), (640, 640)),
    "voc_512x512": PipelineRecipe((2048, 512), (512, 512)),
    "lip_473x473": PipelineRecipe((520, 520), (473, 473), (0.75, 1.25), False, (473, 473), True),
    "cihp_473x473": PipelineRecipe((520, 520), (473, 473), (0.75, 1.25), False, (473, 473), True),
}


# Zoo dataset name → (benchmark, default root, R-50 recipe, Swin-L recipe), as in the official configs.
ZOO_DATASETS: dict[str, tuple[str, str, str | None, str | None]] = {
    "ade20k": ("ade20k", "data/ade20k", "ade20k_512x512", "ade20k_640x640"),
    "cityscapes": ("cityscapes", "data/cityscapes", "cityscapes_512x1024", None),
    "cocostuff10k": ("cocostuff10k", "data/cocostuff10k", "cocostuff10k_512x512", "cocostuff10k_640x640"),
    "lip": ("lip", "data/LIP", "lip_473x473", "lip_473x473"),
    "pascalcontext59": ("pascal_context59", "data/VOCdevkit/VOC2010", None, "pascalcontext59_640x640"),
    "voc": ("voc", "data/VOCdevkit/VOC2012", "voc_512x512", None),
}


def zoo_recipe_name(zoo_name: str, dataset: str) -> str:
    """The official pipeline recipe of a zoo model trained on ``dataset``."""
    _, _, r50, swin = ZOO_DATASETS[dataset]
    name = swin if "swin" in zoo_name else r50
    return name or r50 or swin  # type: ignore[return-value]
