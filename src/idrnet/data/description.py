"""The one description of a dataset: class names, colours, the ignore label, left/right pairs for flips
and the test-time resize. The dataset owns it (benchmarks in code, a custom folder in its dataset.yaml);
training copies it into the checkpoint once, and models take their number of classes and ignore label
from it. How raw label files map to class ids (:class:`~idrnet.data.labels.LabelMap`) stays with the
dataset's reader: predictions never need it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path

IGNORE_INDEX = 255
"""The label of unlabelled pixels when a dataset says nothing else (the open-mmlab and torchvision
convention). Every other default in the code refers to this constant."""


def ignore_label(value: int | None) -> int:
    """A model config's ignore label: its own, or :data:`IGNORE_INDEX` when unset (built without data)."""
    return IGNORE_INDEX if value is None else value


@dataclass(frozen=True)
class DataDescription:
    """Class names, palette, ignore label, flip pairs; ``test_scale`` (long, short) and ``keep_ratio``
    describe the official test-time resize (``None``: images are used at their own size); ``name`` is
    the dataset's (a benchmark name or the custom folder's name, empty when unknown)."""

    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = IGNORE_INDEX
    flip_pairs: tuple[tuple[int, int], ...] = ()
    test_scale: tuple[int, int] | None = None
    keep_ratio: bool = True
    name: str = ""

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def with_test_resize(self, test_scale: tuple[int, int] | None, keep_ratio: bool = True) -> "DataDescription":
        """The same description with the test-time resize of a run."""
        return dataclasses.replace(self, test_scale=tuple(test_scale) if test_scale else None, keep_ratio=keep_ratio)

    def to_json(self) -> str:
        """Serialise (for checkpoint metadata)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, where: str = "the stored data description") -> "DataDescription":
        """Inverse of :meth:`to_json`; :class:`~idrnet.config.ConfigError` naming ``where`` if malformed."""
        from ..config import ConfigError, parse_json

        d = parse_json(text, where)
        try:
            return cls(tuple(d["classes"]), tuple(tuple(c) for c in d["palette"]), int(d.get("ignore_index", IGNORE_INDEX)),
                       tuple(tuple(p) for p in d.get("flip_pairs", ())),
                       tuple(d["test_scale"]) if d.get("test_scale") else None, bool(d.get("keep_ratio", True)),
                       str(d.get("name", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f"{where}: not a data description ({type(err).__name__}: {err})") from None


def __getattr__(name: str):
    if name == "DataMeta":  # the name of idrnet 0.1; removed in 0.3
        import warnings

        warnings.warn("idrnet.data.meta.DataMeta is now idrnet.data.description.DataDescription", DeprecationWarning,
                      stacklevel=2)
        return DataDescription
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def generic_description(num_classes: int) -> DataDescription:
    """Names ``class_0``… and a fixed pseudo-random palette, when nothing better is known."""
    import numpy as np

    rng = np.random.default_rng(12345)
    colours = rng.integers(0, 256, size=(num_classes, 3))
    return DataDescription(tuple(f"class_{i}" for i in range(num_classes)), tuple(tuple(int(v) for v in c) for c in colours))


def custom_description(root: str | Path, test_scale: tuple[int, int] | None = None, keep_ratio: bool = True) -> DataDescription:
    """The data description of a custom dataset folder (its dataset.yaml; the file itself may be given)."""
    from .datasets.custom import load_spec, spec_description

    root = Path(root)
    if root.is_file() and root.name == "dataset.yaml":
        root = root.parent
    return spec_description(load_spec(root), root.name).with_test_resize(test_scale, keep_ratio)
