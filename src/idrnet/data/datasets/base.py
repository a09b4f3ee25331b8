"""A segmentation dataset: a list of (image, label) files, a label mapping and a pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..description import DataDescription
from ..labels import BadSampleError, LabelMap, read_image, read_label, size_mismatch_reason


@dataclass(frozen=True)
class SampleFiles:
    """One sample on disk."""

    id: str
    image: Path
    label: Path | None


@dataclass
class SegmentationDataset(torch.utils.data.Dataset):
    """Reads, maps and transforms samples; deterministic for ``seed`` (and ``epoch``).

    A bad sample raises :class:`BadSampleError` naming the file, or, with ``skip_bad``, is replaced by
    the next good one and recorded in ``skipped`` (in this process) and, when ``skip_log`` is set, appended
    to that file (so DataLoader workers' skips can be listed at the end of a run).
    """

    info: DataDescription
    samples: list[SampleFiles]
    label_map: LabelMap
    pipeline: Callable[[dict, np.random.Generator], dict] | None = None
    seed: int = 0
    epoch: int = 0
    skip_bad: bool = False
    skipped: list[str] = field(default_factory=list)
    skip_log: Path | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> dict[str, Any]:
        """The raw sample: RGB image and mapped label (no transforms)."""
        files = self.samples[index]
        image = read_image(files.image)
        sample: dict[str, Any] = {"id": files.id, "image": image}
        if files.label is not None:
            raw = read_label(files.label, colours=self.label_map.colours is not None)
            if raw.shape[:2] != image.shape[:2]:
                raise BadSampleError(
                    f"{files.label}: label size {raw.shape[1]}×{raw.shape[0]} differs from image "
                    f"{files.image.name} size {image.shape[1]}×{image.shape[0]}"
                    + size_mismatch_reason(files.image, raw.shape, image.shape)
                )
            sample["label"] = self.label_map(raw, files.label)
        return sample

    def __getitem__(self, index: int) -> dict[str, Any]:
        for attempt in range(len(self.samples)):
            i = (index + attempt) % len(self.samples)
            try:
                sample = self.load(i)
            except BadSampleError as err:
                if not self.skip_bad:
                    raise
                self.skipped.append(str(err))
                if self.skip_log is not None:
                    with open(self.skip_log, "a") as f:
                        f.write(f"{err}\n")
                continue
            if self.pipeline is not None:
                rng = np.random.default_rng([self.seed, self.epoch, i])
                sample = self.pipeline(sample, rng)
            return sample
        raise BadSampleError("every sample of the dataset is bad")


def read_id_list(path: Path) -> list[str]:
    """Ids from a split list (one per line; only the first column of each line is used). A byte-order mark
    (Windows editors write one) is not part of the first id; a list saved as UTF-16 (PowerShell's ``>``) is
    read as such."""
    if not path.is_file():
        raise FileNotFoundError(f"split list {path} does not exist")
    raw = path.read_bytes()
    text = raw.decode("utf-16") if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else raw.decode("utf-8-sig")
    return [line.split()[0] for line in text.splitlines() if line.strip()]
