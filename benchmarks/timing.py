"""Wall-clock timing, the host's name and the JSON-lines record, shared by the benchmark scripts (run as
``python benchmarks/NAME.py``, which puts this folder on the import path)."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Callable


def cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def append_record(path: str | Path, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path`` (a benchmark's results file)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
