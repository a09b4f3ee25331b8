"""The paper's benchmarks in their standard on-disk layouts.

Each ``list_*`` function returns the samples of one split; ``BENCHMARKS`` describes every dataset
(classes, palette, label mapping) and how to list it. Split lists are used when present and are
otherwise replaced by a scan of the folders (the official downloads of ADE20K and Cityscapes ship
without lists).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import InputError, UnknownNameError
from .. import classes as C
from ..labels import LabelMap
from ..description import DataDescription
from .base import SampleFiles, SegmentationDataset, read_id_list


def _need_dir(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"expected folder {path} (see docs/datasets.md for the layout)")
    return path


def _from_ids(ids: list[str], image_dir: Path, label_dir: Path, image_ext: str, label_ext: str) -> list[SampleFiles]:
    return [SampleFiles(i, image_dir / f"{i}{image_ext}", label_dir / f"{i}{label_ext}") for i in ids]


def list_ade20k(root: Path, split: str) -> list[SampleFiles]:
    """``ADEChallengeData2016/images/{training,validation}/*.jpg`` + ``annotations/…/*.png``."""
    base = root / "ADEChallengeData2016" if (root / "ADEChallengeData2016").is_dir() else root
    sub = {"train": "training", "val": "validation"}[split]
    image_dir, label_dir = _need_dir(base / "images" / sub), _need_dir(base / "annotations" / sub)
    ids_file = base / f"{split}.txt"
    ids = read_id_list(ids_file) if ids_file.is_file() else sorted(p.stem for p in image_dir.glob("*.jpg"))
    return _from_ids(ids, image_dir, label_dir, ".jpg", ".png")


def list_cityscapes(root: Path, split: str) -> list[SampleFiles]:
    """``leftImg8bit/{split}/<city>/*_leftImg8bit.png`` + ``gtFine/{split}/<city>/*_gtFine_labelIds.png``."""
    image_root = _need_dir(root / "leftImg8bit" / split)
    label_root = _need_dir(root / "gtFine" / split)
    samples = []
    for img in sorted(image_root.glob("*/*_leftImg8bit.png")):
        stem = img.name[: -len("_leftImg8bit.png")]
        samples.append(SampleFiles(stem, img, label_root / img.parent.name / f"{stem}_gtFine_labelIds.png"))
    return samples


def list_cocostuff10k(root: Path, split: str) -> list[SampleFiles]:
    """``images/*.jpg``, ``annotations/*.mat`` (key ``S``), ``imageLists/{train,test}.txt``."""
    ids = read_id_list(root / "imageLists" / f"{ {'val': 'test'}.get(split, split) }.txt")
    return _from_ids(ids, _need_dir(root / "images"), _need_dir(root / "annotations"), ".jpg", ".mat")


def list_cocostuff164k(root: Path, split: str) -> list[SampleFiles]:
    """``images/{train2017,val2017}/*.jpg`` + ``annotations/{train2017,val2017}/*.png`` (stuffthingmaps)."""
    sub = {"train": "train2017", "val": "val2017"}[split]
    image_dir = _need_dir(root / "images" / sub)
    label_dir = _need_dir(root / "annotations" / sub)
    return [SampleFiles(p.stem, p, label_dir / f"{p.stem}.png") for p in sorted(image_dir.glob("*.jpg"))]


def list_pascal_context(root: Path, split: str) -> list[SampleFiles]:
    """``VOCdevkit/VOC2010``: ``JPEGImages``, ``SegmentationClassContext``, ``ImageSets/SegmentationContext``."""
    base = root / "VOCdevkit" / "VOC2010" if (root / "VOCdevkit").is_dir() else root
    ids = read_id_list(base / "ImageSets" / "SegmentationContext" / f"{split}.txt")
    return _from_ids(ids, _need_dir(base / "JPEGImages"), _need_dir(base / "SegmentationClassContext"), ".jpg", ".png")


def list_voc(root: Path, split: str) -> list[SampleFiles]:
    """``VOCdevkit/VOC2012``: ``JPEGImages``, ``SegmentationClass`` (``SegmentationClassAug`` for the
    SBD ``trainaug`` split), ``ImageSets/Segmentation/{train,val,trainaug}.txt``."""
    base = root / "VOCdevkit" / "VOC2012" if (root / "VOCdevkit").is_dir() else root
    ids = read_id_list(base / "ImageSets" / "Segmentation" / f"{split}.txt")
    label_dir = base / ("SegmentationClassAug" if split == "trainaug" else "SegmentationClass")
    return _from_ids(ids, _need_dir(base / "JPEGImages"), _need_dir(label_dir), ".jpg", ".png")


def _ids_or_scan(list_file: Path, image_dir: Path) -> list[str]:
    """The ids of a split list when there is one, else the stems of the ``.jpg`` images (as mmseg scans)."""
    return read_id_list(list_file) if list_file.is_file() else sorted(p.stem for p in image_dir.glob("*.jpg"))


def list_lip(root: Path, split: str) -> list[SampleFiles]:
    """``{train,val}_images/*.jpg``, ``{train,val}_segmentations/*.png``; ``{train,val}_id.txt`` when present."""
    image_dir, label_dir = _need_dir(root / f"{split}_images"), _need_dir(root / f"{split}_segmentations")
    return _from_ids(_ids_or_scan(root / f"{split}_id.txt", image_dir), image_dir, label_dir, ".jpg", ".png")


def list_cihp(root: Path, split: str) -> list[SampleFiles]:
    """``{Training,Validation}/Images/*.jpg``, ``…/Category_ids/*.png``; ``…/{train,val}_id.txt`` when present."""
    sub = {"train": "Training", "val": "Validation"}[split]
    base = root / sub
    image_dir, label_dir = _need_dir(base / "Images"), _need_dir(base / "Category_ids")
    list_file = base / f"{split}_id.txt"
    ids = [i.zfill(7) for i in read_id_list(list_file)] if list_file.is_file() else _ids_or_scan(list_file, image_dir)
    return _from_ids(ids, image_dir, label_dir, ".jpg", ".png")


def list_cocostuff164k_mmseg(root: Path, split: str) -> list[SampleFiles]:
    """mmsegmentation's conversion: ``images/{train2017,val2017}/*.jpg`` +
    ``annotations/{train2017,val2017}/*_labelTrainIds.png`` (171 classes, 255 ignored)."""
    sub = {"train": "train2017", "val": "val2017"}[split]
    image_dir = _need_dir(root / "images" / sub)
    label_dir = _need_dir(root / "annotations" / sub)
    return [SampleFiles(p.stem, p, label_dir / f"{p.stem}_labelTrainIds.png") for p in sorted(image_dir.glob("*.jpg"))]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: what it is, how its labels map and how its splits are listed."""

    info: DataDescription
    label_map: LabelMap
    lister: Callable[[Path, str], list[SampleFiles]]
    layout: tuple[str, ...] = ()  # folders that show a download of it (told to users who point a custom dataset at one)


def _info(name, classes, palette, flip_pairs=()):
    return DataDescription(tuple(classes), tuple(palette), flip_pairs=tuple(flip_pairs), name=name)


BENCHMARKS: dict[str, Benchmark] = {
    # A raw 255 is ignored in every benchmark, as in mmsegmentation (ADE20K's reduce_zero_label included).
    "ade20k": Benchmark(_info("ade20k", C.ADE20K_CLASSES, C.ADE20K_PALETTE), LabelMap(150, ignore=(0, 255), shift=1),
                        list_ade20k, ("images/training", "annotations/training")),
    "cityscapes": Benchmark(
        _info("cityscapes", C.CITYSCAPES_CLASSES, C.CITYSCAPES_PALETTE),
        LabelMap(19, mapping={k: v for k, v in C.CITYSCAPES_LABEL_TO_TRAIN.items()},
                 ignore=tuple(k for k in range(256) if k not in C.CITYSCAPES_LABEL_TO_TRAIN)),
        list_cityscapes,
        ("leftImg8bit", "gtFine"),
    ),
    "cocostuff10k": Benchmark(_info("cocostuff10k", C.COCOSTUFF_CLASSES, C.COCOSTUFF_PALETTE),
                              LabelMap(182, ignore=(0, 255), shift=1), list_cocostuff10k,
                              ("imageLists", "annotations")),
    "cocostuff164k": Benchmark(_info("cocostuff164k", C.COCOSTUFF_CLASSES, C.COCOSTUFF_PALETTE),
                               LabelMap(182, ignore=(255,)), list_cocostuff164k,
                               ("images/train2017", "annotations/train2017")),
    "cocostuff164k_mmseg": Benchmark(_info("cocostuff164k_mmseg", C.COCOSTUFF171_CLASSES, C.COCOSTUFF171_PALETTE),
                                     LabelMap(171, ignore=(255,)), list_cocostuff164k_mmseg),
    "pascal_context59": Benchmark(_info("pascal_context59", C.PASCAL_CONTEXT59_CLASSES, C.PASCAL_CONTEXT59_PALETTE),
                                  LabelMap(59, ignore=(0, 255), shift=1), list_pascal_context,
                                  ("JPEGImages", "SegmentationClassContext")),
    "pascal_context60": Benchmark(_info("pascal_context60", C.PASCAL_CONTEXT_CLASSES, C.PASCAL_CONTEXT_PALETTE),
                                  LabelMap(60, ignore=(255,)), list_pascal_context),
    "voc": Benchmark(_info("voc", C.VOC_CLASSES, C.VOC_PALETTE), LabelMap(21, ignore=(255,)), list_voc,
                     ("JPEGImages", "SegmentationClass")),
    "lip": Benchmark(_info("lip", C.LIP_CLASSES, C.LIP_PALETTE, C.LIP_FLIP_PAIRS), LabelMap(20, ignore=(255,)), list_lip,
                     ("train_images", "train_segmentations")),
    "cihp": Benchmark(_info("cihp", C.CIHP_CLASSES, C.CIHP_PALETTE, C.CIHP_FLIP_PAIRS), LabelMap(20, ignore=(255,)),
                      list_cihp, ("Training/Images", "Training/Category_ids")),
}


def benchmark_laid_out_in(root: Path) -> str | None:
    """The name of the benchmark whose download ``root`` is (its layout's folders are there, or under the
    usual ``ADEChallengeData2016``/``VOCdevkit`` folder), if any."""
    bases = [root, root / "ADEChallengeData2016", root / "VOCdevkit" / "VOC2012", root / "VOCdevkit" / "VOC2010"]
    for name, benchmark in BENCHMARKS.items():
        if benchmark.layout and any(all((base / f).is_dir() for f in benchmark.layout) for base in bases):
            return name
    return None


def get_benchmark(name: str, also: tuple[str, ...] = ()) -> Benchmark:
    """The benchmark of that name; an unknown name lists the known ones (and ``also``, other names the
    caller takes, such as ``custom``), with the closest one."""
    if name not in BENCHMARKS:
        known = [*BENCHMARKS, *also]
        raise UnknownNameError(f"unknown dataset {name!r}{_did_you_mean(str(name), known)}; expected one of "
                               f"{', '.join(known)}")
    return BENCHMARKS[name]


def _did_you_mean(name: str, known: list[str]) -> str:
    """`` (did you mean ade20k?)`` for a name written in other case, with dashes, or misspelt."""
    import difflib

    folded = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    same = [b for b in known if b.replace("_", "") == folded]
    close = same or difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def open_benchmark(name: str, root: str | Path, split: str) -> tuple[SegmentationDataset, list[str]]:
    """A benchmark split's samples whose files exist, and the missing files (for ``idrnet data check``)."""
    b = get_benchmark(name)
    try:
        samples = b.lister(Path(root), split)
    except KeyError:
        raise InputError(f"{name} has no split {split!r}") from None
    problems = [f"missing image: {s.image}" for s in samples if not s.image.exists()]
    problems += [f"missing label: {s.label}" for s in samples if s.label is not None and not s.label.exists()]
    present = [s for s in samples if s.image.exists() and (s.label is None or s.label.exists())]
    return SegmentationDataset(b.info, present, b.label_map), problems


def build_benchmark(name: str, root: str | Path, split: str, pipeline=None, seed: int = 0, skip_bad: bool = False) -> SegmentationDataset:
    """A benchmark split as a :class:`SegmentationDataset`."""
    b = get_benchmark(name)
    return SegmentationDataset(b.info, b.lister(Path(root), split), b.label_map, pipeline, seed, skip_bad=skip_bad)
