"""Time of each corruption on one 512×512 image, ours (idrnet.data.corruptions) and, where it runs,
the imagecorruptions package's; prints a table (median of 5 runs, severity 3). Run:
    .venv/bin/python benchmarks/corruption_speed.py"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
import types

import numpy as np

from idrnet.data.corruptions import CORRUPTIONS, corrupt


def _package():
    if importlib.util.find_spec("imagecorruptions") is None:
        return None
    stand_in = types.ModuleType("pkg_resources")  # the package imports it; only this function is used
    stand_in.resource_filename = lambda pkg, name: os.path.join(os.path.dirname(importlib.util.find_spec(pkg).origin), name)
    sys.modules.setdefault("pkg_resources", stand_in)
    import imagecorruptions
    import imagecorruptions.corruptions as definitions
    import skimage.filters

    definitions.gaussian = lambda image, sigma, multichannel=None, **kw: skimage.filters.gaussian(
        image, sigma=sigma, channel_axis=-1 if multichannel else None, **kw)
    np.float_ = np.float64  # fog asks for the alias NumPy 2 removed
    return imagecorruptions


def _median_ms(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    image = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)
    package = _package()
    print(f"{'corruption':18} {'idrnet ms':>10} {'imagecorruptions ms':>20}")
    for name in CORRUPTIONS:
        ours = _median_ms(lambda: corrupt(image, name, 3, seed=1))
        theirs = _median_ms(lambda: package.corrupt(image, severity=3, corruption_name=name)) if package else float("nan")
        print(f"{name:18} {ours:10.1f} {theirs:20.1f}")


if __name__ == "__main__":
    main()
