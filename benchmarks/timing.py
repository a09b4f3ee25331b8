"""Wall-clock timing shared by the benchmark scripts (run as ``python benchmarks/NAME.py``, which puts this
folder on the import path)."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 0) -> float:
    """Median milliseconds of ``runs`` calls of ``fn``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
