"""List the model zoo: names, published mIoU, parameter counts and checkpoints."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet models``."""
    parser.add_argument("filter", nargs="*", default=[],
                        help="only names containing every one of these words (any case), e.g. upernet ade20k")


def run(args: argparse.Namespace) -> int:
    """Print one line per zoo entry; no match is an error naming the closest names."""
    import difflib

    from ..errors import InputError
    from ..models.zoo import MODEL_ZOO

    words = [w.lower() for w in args.filter]
    names = [n for n in sorted(MODEL_ZOO) if all(w in n.lower() for w in words)]
    if not names:
        close = difflib.get_close_matches("_".join(words), sorted(MODEL_ZOO), n=3, cutoff=0.4)
        raise InputError(f"no zoo model name contains {' and '.join(map(repr, args.filter))}"
                         + (f"; closest: {', '.join(close)}" if close else f"; `idrnet models` lists all {len(MODEL_ZOO)}"))
    print(f"{'name':45s} {'mIoU (ss)':>9s} {'params':>12s}  checkpoint")
    for name in names:
        e = MODEL_ZOO[name]
        miou = f"{e.published_miou['ss']:.2f}" if "ss" in e.published_miou else "-"
        params = f"{e.params_total:,}" if e.params_total else "-"
        print(f"{name:45s} {miou:>9s} {params:>12s}  {'official' if e.checkpoint_url else '-'}")
    return 0
