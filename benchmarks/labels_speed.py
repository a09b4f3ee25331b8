"""Label maps from class scores: ``argmax`` against ``max(dim).indices`` (what idrnet uses), which give the
same labels (tests/test_evaluation.py).

  python benchmarks/labels_speed.py [--threads 2]

Prints the median milliseconds of each for (1, K, H, W) score maps of common sizes.
"""

from __future__ import annotations

import argparse

import torch
from timing import median_ms  # beside this script

SHAPES = {"quickstart 11 × 128²": (11, 128, 128), "ADE20K 150 × 512²": (150, 512, 512),
          "Cityscapes 19 × 1024 × 2048": (19, 1024, 2048)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, torch {torch.__version__}")
    for name, shape in SHAPES.items():
        scores = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
        slow = median_ms(lambda: scores.argmax(1), args.runs, warmup=1)
        fast = median_ms(lambda: scores.max(1).indices, args.runs, warmup=1)
        print(f"{name}: argmax {slow:.2f} ms, max().indices {fast:.2f} ms ({slow / fast:.1f}× faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
