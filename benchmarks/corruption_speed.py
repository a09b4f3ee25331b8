"""Time of each corruption on one 512×512 image, ours (idrnet.data.corruptions) and, where it runs,
the imagecorruptions package's; prints a table (median of 5 runs, severity 3). Run:
    .venv/bin/python benchmarks/corruption_speed.py [NAME ...]   (default: all)"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from idrnet.data.corruptions import CORRUPTIONS, corrupt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_corruptions import load_imagecorruptions  # noqa: E402 - the test suite's patched reference
from timing import median_ms  # noqa: E402 - beside this script


def _package():
    try:
        return load_imagecorruptions()
    except ImportError:
        return None


def main() -> None:
    image = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)
    package = _package()
    print(f"{'corruption':18} {'idrnet ms':>10} {'imagecorruptions ms':>20}")
    for name in sys.argv[1:] or CORRUPTIONS:
        ours = median_ms(lambda: corrupt(image, name, 3, seed=1), 5)
        theirs = median_ms(lambda: package.corrupt(image, severity=3, corruption_name=name), 5) if package else float("nan")
        print(f"{name:18} {ours:10.1f} {theirs:20.1f}")


if __name__ == "__main__":
    main()
