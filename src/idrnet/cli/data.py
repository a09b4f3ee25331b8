"""Datasets: generate the synthetic context dataset, or check a dataset on disk.

  idrnet data synth DIR [--num-train N --num-val M --size S --seed K]
  idrnet data check DIR_OR_YAML [--split NAME ...]

DIR_OR_YAML is a custom dataset folder (with dataset.yaml), a training config (its data section), or
a YAML file naming a benchmark:
  dataset: ade20k
  root: data/ADEChallengeData2016
Every split is checked unless --split names some: a custom folder's images/<split>/ folders and
<split>.txt lists, a training config's train and val splits, a benchmark's train and val.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from .common import at_least


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet data``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    synth = sub.add_parser("synth", help="write the generated context dataset", allow_abbrev=False)
    synth.add_argument("dir")
    synth.add_argument("--num-train", type=at_least(1), default=400)
    synth.add_argument("--num-val", type=at_least(0), default=100)
    # A generated scene is a toy: 4096 pixels a side is already 48 MiB an image (and --size 100000 asked
    # OpenCV for 40 GB before failing).
    synth.add_argument("--size", type=at_least(16, most=4096), default=128)
    synth.add_argument("--seed", type=at_least(0), default=0)
    synth.add_argument("--overwrite", action="store_true",
                       help="replace a dataset already in DIR (its generated images and masks are removed first)")
    check = sub.add_parser("check", help="validate a dataset and print what it holds", allow_abbrev=False)
    check.add_argument("target", help="custom dataset folder, training config, or YAML with 'dataset' and 'root'")
    check.add_argument("--split", nargs="+", help="only these splits (default: all)")


def _custom_splits(root: Path) -> list[str]:
    from ..data.datasets.custom import load_spec

    spec = load_spec(root)
    folders = sorted(p.name for p in (root / spec.images).iterdir() if p.is_dir()) if (root / spec.images).is_dir() else []
    lists = sorted(p.stem for p in root.glob("*.txt"))
    found = folders or lists
    if not found:
        raise FileNotFoundError(f"{root}: no split found (expected {spec.images}/<split>/ folders or <split>.txt lists)")
    return found


def resolve_target(target: str) -> tuple[str, object, list[str]]:
    """(kind, source, default splits) for a custom folder, a training config or a benchmark YAML."""
    from ..config.yaml_file import load_yaml_file

    path = Path(target)
    if path.is_dir():
        return "custom", path, _custom_splits(path)
    if not path.is_file():
        raise FileNotFoundError(f"{target} is neither a dataset folder nor a YAML file")
    data = load_yaml_file(path) or {}
    if isinstance(data, dict) and "data" in data:
        from ..engine.config import load_train_config

        config = load_train_config(path)
        return "config", config.data, [config.data.train_split, config.data.val_split]
    from ..data.datasets.benchmarks import BENCHMARKS

    # `type:` as a training config's data section names the benchmark, `dataset:` as this file always did
    name, root = (data.get("dataset", data.get("type")), data.get("root")) if isinstance(data, dict) else (None, None)
    if name is not None and name not in BENCHMARKS and root:
        from ..data.datasets.benchmarks import get_benchmark

        try:
            get_benchmark(str(name))
        except InputError as err:
            raise InputError(f"{path}: {err}") from None
    if name not in BENCHMARKS or not root:
        raise InputError(f"{path}: expected 'dataset' (one of {', '.join(BENCHMARKS)}) and 'root', or a training config")
    root = Path(str(root)).expanduser()  # "~/data" in a YAML file: no shell expands it
    root = root if root.is_absolute() else path.parent / root
    if not root.is_dir():
        raise FileNotFoundError(f"{path}: root {root} " + ("is not a folder" if root.exists() else "does not exist")
                                + f"; expected the {name} download (docs/datasets.md)")
    return "benchmark", (name, root), ["train", "val"]


def open_split(kind: str, source, split: str):
    """(dataset, pairing problems) of one split of what :func:`resolve_target` found."""
    from ..data.build import open_dataset

    if kind == "config":
        return open_dataset(source.type, source.root, split)
    if kind == "custom":
        return open_dataset("custom", source, split)
    name, root = source
    return open_dataset(name, root, split)


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; ``check`` exits 1 when problems were found."""
    if args.action == "synth":
        from ..data.synth import remove_synthetic_files, write_synthetic_dataset
        from .common import check_output

        if Path(args.dir).exists() and not Path(args.dir).is_dir():
            raise NotADirectoryError(f"{args.dir} is a file; expected a folder for the dataset")
        check_output(args.dir, args.overwrite, "DIR", folder=True)
        if args.overwrite:
            remove_synthetic_files(Path(args.dir))  # a new dataset never mixes with the old one's files
        root = write_synthetic_dataset(args.dir, args.num_train, args.num_val, args.size, args.seed)
        print(f"wrote {args.num_train} train and {args.num_val} val scenes to {root}")
        return 0
    from ..data.check import check_dataset, format_report

    kind, source, splits = resolve_target(args.target)
    failed = []
    for split in args.split or splits:
        print(f"== split {split}")
        try:  # a split that cannot be opened is reported, and the others are still checked
            dataset, problems = open_split(kind, source, split)
        except OSError as err:  # a missing folder or list; an unknown split name stays a usage error (exit 2)
            print(f"PROBLEMS (1):\n  {' '.join(str(err).split())}")
            failed.append(split)
            continue
        report = check_dataset(dataset, problems)
        print(format_report(report, dataset.info.classes))
        if not report.ok:
            failed.append(split)
    if failed:
        print(f"problems found in split(s): {', '.join(failed)}")
    return 1 if failed else 0
