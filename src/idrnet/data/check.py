"""Validate a dataset on disk and summarise what it holds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .datasets.base import SegmentationDataset
from .description import IGNORE_INDEX
from .labels import BadSampleError, orientation_of


@dataclass
class CheckReport:
    """Problems (each names a file) and facts about a dataset split."""

    num_samples: int = 0
    problems: list[str] = field(default_factory=list)
    image_modes: Counter = field(default_factory=Counter)
    label_modes: Counter = field(default_factory=Counter)
    class_pixels: np.ndarray | None = None
    ignored_pixels: int = 0
    ignore_index: int = IGNORE_INDEX
    oriented_images: int = 0  # images with an EXIF orientation other than "as stored" (read upright)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _image_facts(path: Path) -> tuple[str, int]:
    """(PIL mode, EXIF orientation) of an image file, from one header parse."""
    try:
        with Image.open(path) as img:
            return img.mode, orientation_of(img)
    except Exception:  # noqa: BLE001 - reported by the real read
        return "unreadable", 1


def check_dataset(dataset: SegmentationDataset, pairing_problems: list[str] | None = None, progress: bool = True) -> CheckReport:
    """Read every sample once (no transforms): unreadable or truncated files (fully decoded), size
    mismatches, label values that map to no class, image and label modes, the per-class pixel
    histogram; masks with no labelled pixel are warnings (they train nothing). An empty split is a problem."""
    from tqdm import tqdm

    from .labels import verify_image_file

    report = CheckReport(num_samples=len(dataset), problems=list(pairing_problems or []),
                         ignore_index=dataset.info.ignore_index)
    if len(dataset) == 0:
        report.problems.append("the split has no samples")
    k = dataset.info.num_classes
    report.class_pixels = np.zeros(k, np.int64)
    for index, files in enumerate(tqdm(dataset.samples, desc="checking", disable=not progress)):
        mode, orientation = _image_facts(files.image)
        report.image_modes[mode] += 1
        report.oriented_images += orientation != 1
        if files.label is not None and files.label.suffix == ".png":
            report.label_modes[_image_facts(files.label)[0]] += 1
        if files.label is not None and not files.label.exists():
            report.problems.append(f"missing label: {files.label}")
            continue
        try:
            verify_image_file(files.image)  # a full decode, whatever the format
            sample = dataset.load(index)
        except BadSampleError as err:
            report.problems.append(str(err))
            continue
        if "label" in sample:
            label = sample["label"]
            valid = label != dataset.info.ignore_index
            if not valid.any():
                report.warnings.append(f"no labelled pixel (all {dataset.info.ignore_index}): {files.label}")
            report.class_pixels += np.bincount(label[valid].ravel(), minlength=k)[:k]
            report.ignored_pixels += int((~valid).sum())
    return report


def _ignored_class_hint(report: CheckReport, absent_class: int) -> list[str]:
    """A class with no pixel beside a large ignored area is most often a class drawn with the ignore value
    (a binary mask saved as 0/255 with ignore label 255): that class would silently never train."""
    area = int(report.class_pixels.sum()) + report.ignored_pixels
    share = report.ignored_pixels / max(1, area)
    if share < 0.05:
        return []
    ignore = report.ignore_index
    return [f"note: {100 * share:.2f}% of the mask area is {ignore}, the ignore label; if your masks draw a "
            f"class with {ignore} (a binary mask saved as 0/{ignore}), map it in dataset.yaml, e.g. "
            f"label_map: {{{ignore}: {absent_class}}}"]


def format_report(report: CheckReport, class_names: tuple[str, ...]) -> str:
    """A readable summary: counts, modes, problems and the class histogram."""
    lines = [f"samples: {report.num_samples}"]
    lines.append("image modes: " + ", ".join(f"{m} ×{n}" for m, n in report.image_modes.most_common()))
    if report.label_modes:
        lines.append("label modes: " + ", ".join(f"{m} ×{n}" for m, n in report.label_modes.most_common()))
    odd = [m for m in report.image_modes if m not in ("RGB",)]
    if odd:
        lines.append(f"note: images with mode {', '.join(odd)} are converted to RGB when read")
    if report.oriented_images:
        lines.append(f"note: {report.oriented_images} image(s) carry an EXIF orientation and are read upright, "
                     "as viewers show them; their labels must be drawn upright too")
    total = int(report.class_pixels.sum()) if report.class_pixels is not None else 0
    if total:
        lines.append(f"labelled pixels: {total:,} (ignored: {report.ignored_pixels:,})")
        width = max(len(n) for n in class_names)
        for i, (name, count) in enumerate(zip(class_names, report.class_pixels)):
            bar = "#" * int(round(40 * count / max(1, report.class_pixels.max())))
            lines.append(f"  {i:3d} {name:{width}s} {100 * count / total:6.2f}% {bar}")
        absent = [class_names[i] for i, c in enumerate(report.class_pixels) if c == 0]
        if absent:
            lines.append(f"classes with no pixel: {', '.join(absent[:20])}{' …' if len(absent) > 20 else ''}")
            lines += _ignored_class_hint(report, class_names.index(absent[0]))
    if report.warnings:
        lines.append(f"warnings ({len(report.warnings)}):")
        lines += [f"  {w}" for w in report.warnings[:50]]
        if len(report.warnings) > 50:
            lines.append(f"  … and {len(report.warnings) - 50} more")
    if report.problems:
        lines.append(f"PROBLEMS ({len(report.problems)}):")
        lines += [f"  {p}" for p in report.problems[:200]]
        if len(report.problems) > 200:
            lines.append(f"  … and {len(report.problems) - 200} more")
    else:
        lines.append("no problems found")
    return "\n".join(lines)
