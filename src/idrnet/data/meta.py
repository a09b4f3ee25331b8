"""What a trained model needs to know about its data at prediction time: class names, colours, the
ignore label, left/right pairs for flips and the test-time resize. Stored inside our checkpoints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataMeta:
    """Class names, palette, ignore label, flip pairs; ``test_scale`` (long, short) and ``keep_ratio``
    describe the official test-time resize (``None``: images are used at their own size)."""

    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = 255
    flip_pairs: tuple[tuple[int, int], ...] = ()
    test_scale: tuple[int, int] | None = None
    keep_ratio: bool = True

    def to_json(self) -> str:
        """Serialise (for checkpoint metadata)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, where: str = "the stored data description") -> "DataMeta":
        """Inverse of :meth:`to_json`; :class:`~idrnet.config.ConfigError` naming ``where`` if malformed."""
        from ..config import ConfigError, parse_json

        d = parse_json(text, where)
        try:
            return cls(tuple(d["classes"]), tuple(tuple(c) for c in d["palette"]), int(d.get("ignore_index", 255)),
                       tuple(tuple(p) for p in d.get("flip_pairs", ())),
                       tuple(d["test_scale"]) if d.get("test_scale") else None, bool(d.get("keep_ratio", True)))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f"{where}: not a data description ({type(err).__name__}: {err})") from None


def generic_meta(num_classes: int) -> DataMeta:
    """Names ``class_0``… and a fixed pseudo-random palette, when nothing better is known."""
    import numpy as np

    rng = np.random.default_rng(12345)
    colours = rng.integers(0, 256, size=(num_classes, 3))
    return DataMeta(tuple(f"class_{i}" for i in range(num_classes)), tuple(tuple(int(v) for v in c) for c in colours))


def zoo_meta(zoo_name: str) -> DataMeta:
    """The data description of a zoo model (benchmark classes, official test resize)."""
    from ..models.zoo import get_entry
    from .datasets.benchmarks import BENCHMARKS
    from .official import RECIPES, ZOO_DATASETS, zoo_recipe_name

    dataset = get_entry(zoo_name).dataset
    info = BENCHMARKS[ZOO_DATASETS[dataset][0]].info
    recipe = RECIPES[zoo_recipe_name(zoo_name, dataset)]
    return DataMeta(info.classes, info.palette, info.ignore_index, info.flip_pairs,
                    recipe.test_scale or recipe.scale, recipe.keep_ratio)


def custom_meta(root: str | Path, test_scale: tuple[int, int] | None = None, keep_ratio: bool = True) -> DataMeta:
    """The data description of a custom dataset folder (its dataset.yaml)."""
    from .datasets.custom import default_palette, load_spec

    spec = load_spec(Path(root))
    palette = tuple(tuple(int(v) for v in c) for c in (spec.palette or default_palette(len(spec.classes))))
    return DataMeta(tuple(spec.classes), palette, spec.ignore_index, (), test_scale, keep_ratio)
