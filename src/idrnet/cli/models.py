"""List the model zoo: names, published mIoU, parameter counts and checkpoints."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet models``."""
    parser.add_argument("filter", nargs="?", default="", help="only names containing this text")


def run(args: argparse.Namespace) -> int:
    """Print one line per zoo entry."""
    from ..models.zoo import MODEL_ZOO

    print(f"{'name':45s} {'mIoU (ss)':>9s} {'params':>12s}  checkpoint")
    for name in sorted(MODEL_ZOO):
        if args.filter not in name:
            continue
        e = MODEL_ZOO[name]
        miou = f"{e.published_miou['ss']:.2f}" if "ss" in e.published_miou else "-"
        params = f"{e.params_total:,}" if e.params_total else "-"
        print(f"{name:45s} {miou:>9s} {params:>12s}  {'official' if e.checkpoint_url else '-'}")
    return 0
