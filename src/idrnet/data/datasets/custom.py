"""Your own labelled images: an images folder, a masks folder and a small ``dataset.yaml``.

Layout (``DIR``)::

    dataset.yaml          classes, optional palette, ignore_index, label_map
    images/train/*.jpg    (or images/*.jpg with DIR/train.txt and DIR/val.txt listing stems)
    masks/train/*.png     single-channel class indices (palette PNGs are read as indices)
    images/val/… masks/val/…

``dataset.yaml``::

    classes: [background, cat, dog]
    palette: [[0, 0, 0], [255, 0, 0], [0, 0, 255]]   # optional; also decodes colour-coded (RGB) masks
    ignore_colours: [[255, 255, 255]]                  # optional: colours of RGB masks that are ignored
    ignore_index: 255                                  # optional (default 255)
    label_map: {0: 255}                                # optional raw value → class id ("0 is ignored")
    label_shift: 1                                     # optional: raw v → v − 1 for values not in label_map
    image_suffix: _img.jpg                             # optional (mmseg's img_suffix): 00000_img.jpg is id 00000
    mask_suffix: _gt.png                               # optional (mmseg's seg_map_suffix): 00000_gt.png
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...config import ConfigError, from_dict
from ...config.yaml_file import load_yaml_file
from ...file_errors import run_folder_hint
from ..description import IGNORE_INDEX, DataDescription
from ..image_header import IMAGE_SUFFIXES, JPEG_SUFFIXES
from ..labels import LabelMap
from .base import SampleFiles, SegmentationDataset, read_id_list

MASK_SUFFIXES = (".png", ".mat")


@dataclass
class CustomDatasetSpec:
    """The contents of ``dataset.yaml``."""

    classes: list[str]
    palette: list[list[int]] | None = None
    ignore_colours: list[list[int]] = field(default_factory=list)
    ignore_index: int = IGNORE_INDEX
    label_map: dict[int, int] = field(default_factory=dict)
    label_shift: int = 0
    images: str = "images"
    masks: str = "masks"
    # mmsegmentation's img_suffix / seg_map_suffix: name = id + suffix (e.g. 00000_img.jpg + 00000_gt.png).
    image_suffix: str | None = None
    mask_suffix: str | None = None
    context_dependent_classes: dict[str, str] = field(default_factory=dict)  # informational (synthetic data)


def _other_layout(root: Path) -> str:
    """What to do when a folder without dataset.yaml is a benchmark's download or holds COCO JSON
    annotations ("" when it is neither)."""
    from .benchmarks import benchmark_laid_out_in

    name = benchmark_laid_out_in(root)
    if name is not None:
        return (f"; {root} has the layout of the {name} benchmark, which is read as it is: set data.type: {name} "
                f"and data.root: {root} in the training config (docs/datasets.md)")
    if (root.parent / "dataset.yaml").is_file():
        return f"; {root.parent / 'dataset.yaml'} exists: give the dataset's own folder, {root.parent}"
    annotations = root / "annotations"
    if annotations.is_dir() and any(annotations.glob("*.json")):
        return (f"; {annotations} holds JSON annotations (COCO-style polygons), which idrnet does not read: it trains "
                "on label PNGs of class indices (convert them, e.g. with pycocotools' annToMask, into masks/<split>/)")
    return ""


def load_spec(root: Path) -> CustomDatasetSpec:
    """Read and validate ``root/dataset.yaml``."""
    path = root / "dataset.yaml"
    if not root.exists():
        raise FileNotFoundError(f"dataset folder {root} does not exist" + (
            f" (relative paths are read from the current folder, {Path.cwd()})" if not root.is_absolute() else ""))
    if root.is_file():  # data.root: train.yaml, or the dataset.yaml itself
        hint = f": give its folder, {root.parent}" if root.name == "dataset.yaml" else ""
        raise NotADirectoryError(f"dataset folder {root} is a file; expected the folder holding dataset.yaml{hint}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: a custom dataset needs a dataset.yaml with its classes"
                                + (_other_layout(root) or run_folder_hint(root, "config")))
    data = load_yaml_file(path)
    if isinstance(data, dict) and isinstance(data.get("classes"), dict):
        data = {**data, "classes": _classes_by_index(data["classes"], path)}
    spec = from_dict(CustomDatasetSpec, data, where=str(path))
    if len(spec.classes) < 2:
        raise ConfigError(f"{path}: classes: {spec.classes} holds {len(spec.classes)} class(es); segmentation needs at "
                          "least 2 and mask value 0 is the first one listed: list the background too, e.g. "
                          f"classes: [background, {spec.classes[0] if spec.classes else 'object'}]")
    if len(set(spec.classes)) != len(spec.classes):
        twice = sorted({c for c in spec.classes if spec.classes.count(c) > 1})
        raise ConfigError(f"{path}: classes: {', '.join(map(repr, twice))} listed twice; each class needs its own name")
    if spec.palette is not None and (len(spec.palette) != len(spec.classes) or any(len(c) != 3 for c in spec.palette)):
        raise ConfigError(f"{path}: palette: expected {len(spec.classes)} [r, g, b] colours, one per class")
    if 0 <= spec.ignore_index < len(spec.classes):
        raise ConfigError(f"{path}: ignore_index {spec.ignore_index} is the index of class "
                          f"{spec.classes[spec.ignore_index]!r}: its pixels would be left out of training and scoring. "
                          "Use 255 (the default) for unlabelled pixels; if mask value "
                          f"{spec.ignore_index} means unlabelled, leave that name out of classes and map the masks' "
                          "values to class indices with label_map (docs/datasets.md)")
    _check_colours(spec, path)
    return spec


def _classes_by_index(classes: dict, path: Path) -> list:
    """``classes: {0: background, 1: cat}`` (the id → name mapping of Hugging Face's id2label and YOLO's
    names) as the list it stands for; its ids must be 0 … K−1, each once."""
    try:
        ids = {int(str(k)): v for k, v in classes.items()}
    except ValueError:
        raise ConfigError(f"{path}: classes: expected a list of names, or a mapping of class ids 0, 1, … to names; "
                          f"got the keys {list(classes)[:5]}") from None
    missing = sorted(set(range(len(ids))) - set(ids))
    if missing or len(ids) != len(classes):
        raise ConfigError(f"{path}: classes: a mapping of ids to names needs each id 0 … {len(classes) - 1} once; "
                          f"{'missing ' + ', '.join(map(str, missing[:5])) if missing else 'an id is given twice'}")
    return [ids[i] for i in range(len(ids))]


def _check_colours(spec: CustomDatasetSpec, path: Path) -> None:
    """Palette and ignore colours are [r, g, b] in 0..255, and an ignore colour is no class's colour
    (ignore colours only serve to decode colour-coded masks). Two classes of one colour are allowed here,
    for index masks; decoding a colour-coded mask with such a palette is the error."""
    named = [(f"the palette colour of {name!r}", c) for name, c in zip(spec.classes, spec.palette or [])]
    named += [("an ignore colour", c) for c in spec.ignore_colours]
    seen: dict[tuple[int, ...], str] = {}
    for what, colour in named:
        if len(colour) != 3 or any(not 0 <= v <= 255 for v in colour):
            raise ConfigError(f"{path}: {what}: expected [r, g, b] with values 0..255, got {colour}")
        if tuple(colour) in seen and what == "an ignore colour":
            raise ConfigError(f"{path}: {list(colour)} is both {seen[tuple(colour)]} and {what}; "
                              "each colour must name one class (colour-coded masks are decoded with them)")
        seen.setdefault(tuple(colour), what)
    if spec.ignore_colours and spec.palette is None:
        raise ConfigError(f"{path}: ignore_colours is set but no palette: colour-coded masks are decoded with "
                          "the palette (one [r, g, b] per class)")


def default_palette(n: int) -> list[tuple[int, int, int]]:
    """Distinct colours for ``n`` classes (the usual bit-interleaving scheme)."""
    colours = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours.append((r, g, b))
    return colours


def spec_description(spec: CustomDatasetSpec, name: str) -> DataDescription:
    """The data description a ``dataset.yaml`` gives (its palette, or distinct default colours)."""
    palette = tuple(tuple(int(v) for v in c) for c in (spec.palette or default_palette(len(spec.classes))))
    return DataDescription(tuple(spec.classes), palette, spec.ignore_index, name=name)


def _by_id(folder: Path, suffix: str | None, default_suffixes: frozenset[str] | tuple[str, ...],
           problems: list[str]) -> dict[str, Path]:
    """Files of ``folder`` by sample id: the name without ``suffix`` when one is set, else the stem of
    files with one of ``default_suffixes`` (any case). Two files of one id (a.jpg and a.png) are a
    problem, and neither is used."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():  # no masks: every image is unpaired
        if suffix:
            if path.name.endswith(suffix) and len(path.name) > len(suffix) and path.is_file():
                found.setdefault(path.name[: -len(suffix)], []).append(path)
        elif path.suffix.lower() in default_suffixes and path.is_file():
            found.setdefault(path.stem, []).append(path)
    problems += [f"{len(paths)} files for sample {i!r}: {', '.join(p.name for p in paths)} in {folder}"
                 for i, paths in found.items() if len(paths) > 1]
    return {i: paths[0] for i, paths in found.items() if len(paths) == 1}


def _pair(images: dict[str, Path], masks: dict[str, Path]) -> tuple[list[SampleFiles], list[str]]:
    samples = [SampleFiles(i, images[i], masks[i]) for i in sorted(images) if i in masks]
    problems = [f"image without label: {images[i]}" for i in sorted(images) if i not in masks]
    problems += [f"label without image: {masks[i]}" for i in sorted(masks) if i not in images]
    return samples, problems


def _layout_problems(image_folder: Path, mask_folder: Path, images: dict[str, Path],
                     spec: CustomDatasetSpec) -> list[str]:
    """Why a split's folders pair nothing, for the two usual layout mistakes: images in subfolders (a
    Cityscapes-like city/ level) and masks saved as JPEG."""
    problems = []
    if not images:
        folders = sorted(p.name for p in image_folder.iterdir() if p.is_dir())
        if folders:
            problems.append(f"{image_folder} holds no image but {len(folders)} folder(s) ({', '.join(folders[:3])}"
                            f"{' …' if len(folders) > 3 else ''}): a custom dataset's images lie directly in "
                            f"{spec.images}/<split>/ and its masks in {spec.masks}/<split>/ (no subfolders)")
    if mask_folder.is_dir() and not spec.mask_suffix:
        lossy = sorted(p.name for p in mask_folder.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.suffix.lower() != ".png")
        if lossy:
            jpeg = any(Path(name).suffix.lower() in JPEG_SUFFIXES for name in lossy)
            problems.append(f"{mask_folder}: {len(lossy)} label file(s) that are not PNG ({', '.join(lossy[:3])}"
                            f"{' …' if len(lossy) > 3 else ''}) are not used: labels must be PNG class indices "
                            f"({'JPEG compression changes the values; ' if jpeg else ''}save the masks as PNG)")
    return problems


def list_custom(root: Path, split: str, spec: CustomDatasetSpec) -> tuple[list[SampleFiles], list[str]]:
    """Samples of a split and the problems found while pairing (unpaired files, two files of one id,
    images in subfolders, masks that are not PNG)."""
    image_dir, mask_dir = root / spec.images, root / spec.masks
    problems: list[str] = []
    if (image_dir / split).is_dir():
        images = _by_id(image_dir / split, spec.image_suffix, IMAGE_SUFFIXES, problems)
        samples, unpaired = _pair(images, _by_id(mask_dir / split, spec.mask_suffix, MASK_SUFFIXES, problems))
        return samples, _layout_problems(image_dir / split, mask_dir / split, images, spec) + problems + unpaired
    list_file = root / f"{split}.txt"
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{image_dir} does not exist")
    if list_file.is_file():
        images = _by_id(image_dir, spec.image_suffix, IMAGE_SUFFIXES, problems)
        masks = _by_id(mask_dir, spec.mask_suffix, MASK_SUFFIXES, problems)
        # an id written as the image's file name (img001.jpg, images/img001.jpg) is that image's id
        ids = [i if i in images or Path(i).name.rsplit(".", 1)[0] not in images else Path(i).name.rsplit(".", 1)[0]
               for i in read_id_list(list_file)]
        missing = [f"listed in {list_file.name} but no image: {i}" for i in ids if i not in images]
        samples, unpaired = _pair({i: images[i] for i in ids if i in images}, masks)
        return samples, problems + missing + [p for p in unpaired if not p.startswith("label without image")]
    known = sorted({d.name for d in image_dir.iterdir() if d.is_dir()} | {f.stem for f in root.glob("*.txt")})
    raise FileNotFoundError(f"no {image_dir / split} folder and no {list_file} split list"
                            + (f"; the splits here: {', '.join(known)}" if known else ""))


def open_custom(
    root: str | Path, split: str, pipeline=None, seed: int = 0, skip_bad: bool = False
) -> tuple[SegmentationDataset, list[str]]:
    """A split of a custom dataset (paired samples only) and the pairing problems found."""
    root = Path(root)
    spec = load_spec(root)
    samples, problems = list_custom(root, split, spec)
    info = spec_description(spec, root.name)
    label_map = LabelMap(len(spec.classes), spec.ignore_index, spec.label_map, shift=spec.label_shift,
                         colours=spec.palette, ignore_colours=spec.ignore_colours)
    return SegmentationDataset(info, samples, label_map, pipeline, seed, skip_bad=skip_bad), problems


def build_custom(root: str | Path, split: str, pipeline=None, seed: int = 0, skip_bad: bool = False) -> SegmentationDataset:
    """A split of a custom dataset; unpaired files (and the layout mistakes behind them) are an error listing them."""
    dataset, problems = open_custom(root, split, pipeline, seed, skip_bad)
    if problems:
        shown = "\n  ".join(problems[:20])
        raise FileNotFoundError(f"{root} ({split}): {len(problems)} problem(s) pairing images and labels:\n  {shown}")
    return dataset
