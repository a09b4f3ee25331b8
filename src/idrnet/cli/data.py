"""Datasets: generate the synthetic context dataset, or check a dataset on disk.

  idrnet data synth DIR [--num-train N --num-val M --size S --seed K]
  idrnet data check DIR_OR_YAML [--split train]

DIR_OR_YAML is a custom dataset folder (with dataset.yaml) or a YAML file naming a benchmark:
  dataset: ade20k
  root: data/ADEChallengeData2016
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet data``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    synth = sub.add_parser("synth", help="write the generated context dataset")
    synth.add_argument("dir")
    synth.add_argument("--num-train", type=int, default=400)
    synth.add_argument("--num-val", type=int, default=100)
    synth.add_argument("--size", type=int, default=128)
    synth.add_argument("--seed", type=int, default=0)
    check = sub.add_parser("check", help="validate a dataset and print what it holds")
    check.add_argument("target", help="custom dataset folder, or YAML with 'dataset' and 'root'")
    check.add_argument("--split", default="train")


def open_dataset(target: str, split: str):
    """(dataset, pairing problems) for a custom folder or a benchmark YAML."""
    import yaml

    from ..data.datasets.benchmarks import BENCHMARKS, SegmentationDataset
    from ..data.datasets.custom import open_custom

    path = Path(target)
    if path.is_dir():
        return open_custom(path, split)
    if not path.is_file():
        raise FileNotFoundError(f"{target} is neither a dataset folder nor a YAML file")
    data = yaml.safe_load(path.read_text()) or {}
    name, root = data.get("dataset"), data.get("root")
    if name not in BENCHMARKS or not root:
        raise ValueError(f"{path}: expected 'dataset' (one of {', '.join(BENCHMARKS)}) and 'root'")
    b = BENCHMARKS[name]
    samples = b.lister(Path(root) if Path(root).is_absolute() else path.parent / root, split)
    problems = [f"missing image: {s.image}" for s in samples if not s.image.exists()]
    problems += [f"missing label: {s.label}" for s in samples if s.label is not None and not s.label.exists()]
    present = [s for s in samples if s.image.exists() and (s.label is None or s.label.exists())]
    return SegmentationDataset(b.info, present, b.label_map), problems


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; ``check`` exits 1 when problems were found."""
    if args.action == "synth":
        from ..data.synth import write_synthetic_dataset

        root = write_synthetic_dataset(args.dir, args.num_train, args.num_val, args.size, args.seed)
        print(f"wrote {args.num_train} train and {args.num_val} val scenes to {root}")
        return 0
    from ..data.check import check_dataset, format_report

    dataset, problems = open_dataset(args.target, args.split)
    report = check_dataset(dataset, problems)
    print(format_report(report, dataset.info.classes))
    return 0 if report.ok else 1
