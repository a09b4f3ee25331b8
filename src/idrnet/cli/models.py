"""List the model zoo: names, published mIoU, parameter counts and checkpoints."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet models``."""
    parser.add_argument("filter", nargs="*", default=[],
                        help="only names containing every one of these words (any case), e.g. upernet ade20k; pspnet "
                             "and deeplabv3 also find IDRNet's idrnet_ppm and idrnet_aspp, r50 resnet50os8")


def run(args: argparse.Namespace) -> int:
    """Print one line per zoo entry; no match is an error naming the closest names."""
    from ..errors import InputError
    from ..models.zoo import MODEL_ZOO, find_models

    words = [w for item in args.filter for w in item.split()]  # "upernet swin" quoted is two words
    names = find_models(words)
    if not names:
        raise InputError(f"no zoo model name contains {' and '.join(map(repr, words))}; {_closest(words)}")
    print(f"{'name':45s} {'mIoU (ss)':>9s} {'params':>12s}  checkpoint")
    for name in names:
        e = MODEL_ZOO[name]
        miou = f"{e.published_miou['ss']:.2f}" if "ss" in e.published_miou else "-"
        params = f"{e.params_total:,}" if e.params_total else "-"
        print(f"{name:45s} {miou:>9s} {params:>12s}  {'official' if e.checkpoint_url else '-'}")
    return 0


def _closest(words: list[str]) -> str:
    """What to try instead: the zoo's word nearest to each word no name contains, or, when each word is
    found alone, the names that have most of them."""
    import difflib

    from ..models.zoo import MODEL_ZOO, SAME_WORDS, find_models

    found = {w: set(find_models([w])) for w in words}
    missing = [w for w in words if not found[w]]
    if missing:
        vocabulary = sorted({part for name in MODEL_ZOO for part in name.split("_")} | set(SAME_WORDS))
        near = {w: difflib.get_close_matches(w.lower(), vocabulary, n=1, cutoff=0.6) for w in missing}
        named = [f"{w!r} → {near[w][0]}" for w in missing if near[w]]
        return (f"closest words: {', '.join(named)}" if named
                else f"no name has {' or '.join(map(repr, missing))}; `idrnet models` lists all {len(MODEL_ZOO)}")
    count = {name: sum(name in f for f in found.values()) for name in sorted(MODEL_ZOO)}
    best = max(count.values())
    most = [name for name, c in count.items() if c == best]
    return (f"each is in some name, none has all; with {best} of the {len(words)}: {', '.join(most[:5])}"
            + (f" and {len(most) - 5} more" if len(most) > 5 else ""))
