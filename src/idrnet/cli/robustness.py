"""Measure how a model, or a baseline and its IDRNet version, hold up under image corruptions: clean
mIoU, mIoU per corruption and severity, mPC, rPC, and the paired differences with bootstrap intervals.

  idrnet robustness MODEL [MODEL_B] --data CONFIG [--split val] [--corruptions all|noise|blur|weather|digital|
      validation|NAME ...] [--severities 1 2 3 4 5] --out DIR [--resamples 1000] [--save-examples N]

MODEL and MODEL_B are zoo names (published weights), .safetensors, .onnx or model YAML files. CONFIG is a
training YAML whose data section (val split) is evaluated, or a custom dataset folder. Corruptions are made on the fly, the same for
both models; DIR gets robustness.json, robustness.md and plots. A killed run continues when the same
command is run again.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from .common import add_precision_arguments, at_least, device_from_args


def _severities(text: str) -> list[int]:
    """One severity, a comma list (``1,3``) or a range (``2-5``), as people write them."""
    levels: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        if not all(v.strip() in ("1", "2", "3", "4", "5") for v in (low, high or low)) or int(low) > int(high or low):
            raise argparse.ArgumentTypeError(f"expected severities from 1 to 5 (e.g. 3, 1,3 or 2-5), got {text!r}")
        levels += range(int(low), int(high or low) + 1)
    if not levels:
        raise argparse.ArgumentTypeError(f"expected severities from 1 to 5 (e.g. 3, 1,3 or 2-5), got {text!r}")
    return levels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet robustness``."""
    parser.add_argument("model_a", help="model A (zoo name, .safetensors, .onnx, model YAML), usually the baseline")
    parser.add_argument("model_b", nargs="?", help="model B, usually the IDRNet version (optional)")
    parser.add_argument("--data", required=True, help="training YAML whose data section is evaluated, or a custom "
                                                      "dataset folder")
    parser.add_argument("--split", help="dataset split (default: the config's val_split)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--corruptions", nargs="+", default=["all"], metavar="NAME",
                        help="all (default), groups (noise, blur, weather, digital, validation) or corruption names")
    parser.add_argument("--severities", nargs="+", type=_severities, default=[[1, 2, 3, 4, 5]], metavar="S",
                        help="severities from 1 to 5, also as 1,3 or 2-5 (default: all five)")
    parser.add_argument("--out", required=True, help="output folder: report, tables, plots, finished cells")
    parser.add_argument("--resamples", type=at_least(10), default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--names", nargs="+", metavar="NAME", help="labels of the model(s) in the report and plots")
    parser.add_argument("--limit", type=at_least(1), help="only the first N images")
    parser.add_argument("--workers", type=at_least(0), default=2,
                        help="DataLoader workers that read and corrupt images (default 2)")
    parser.add_argument("--batch-size", type=at_least(1), default=4,
                        help="images of one condition and size per forward pass (default 4)")
    parser.add_argument("--save-examples", type=at_least(0), default=0, metavar="N",
                        help="also write the first N corrupted images of each cell under DIR/examples")
    parser.add_argument("--seed", type=at_least(0), default=0, help="corruption and bootstrap seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished report in --out")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    add_precision_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run (or continue) the sweep and write the report."""
    from ..apis.robustness import robustness
    from ..evaluation.robustness import format_report
    from .common import check_calibration_flag, check_folder_name, say_workers_exceed_cores

    check_folder_name(args.out, "--out", "the report, plots and finished cells", "runs/robustness")
    say_workers_exceed_cores(args.workers, "--workers", "idrnet robustness")
    check_calibration_flag(args, required=False)  # int8 calibrates by default on the config's training split
    # "fog,snow" and "2-5" as well as "fog snow" and "2 3 4 5"; each once, in the order first given
    corruptions = list(dict.fromkeys(name for item in args.corruptions for name in item.split(",") if name))
    severities = list(dict.fromkeys(level for levels in args.severities for level in levels))
    with warnings.catch_warnings():
        warnings.showwarning = _show_ours_plainly
        report = robustness(
            args.model_a, args.model_b, data=args.data, split=args.split, corruptions=corruptions,
            severities=severities, out=args.out, resamples=args.resamples, names=args.names,
            overrides=args.overrides, device=device_from_args(args), precision=args.precision, backend=args.backend,
            calibration=args.calibration, workers=args.workers, batch_size=args.batch_size, limit=args.limit,
            save_examples=args.save_examples, overwrite=args.overwrite, seed=args.seed, progress=True,
        )
    print(format_report(report))
    print(f"report: {args.out}/robustness.json, {args.out}/robustness.md; plots: " + ", ".join(report["plots"].values()))
    return 0


_DEFAULT_SHOW = warnings.showwarning


def _show_ours_plainly(message, category, filename, lineno, file=None, line=None) -> None:
    """The API's notes (UserWarning from idrnet) as the other verbs print theirs; others as Python does."""
    if category is UserWarning and f"{os.sep}idrnet{os.sep}" in str(filename):
        print(f"idrnet robustness: warning: {message}", file=sys.stderr)
    else:
        _DEFAULT_SHOW(message, category, filename, lineno, file, line)
