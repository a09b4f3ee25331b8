"""benchmarks/gpu_run.sh is ready for a GPU host: its dry run (on any host) names every step and its
command, runs nothing and writes nothing; the tests it runs are collected and skip here with a reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_dry_run_prints_every_step_and_runs_nothing(tmp_path):
    out = tmp_path / "gpu"
    done = subprocess.run(["bash", "benchmarks/gpu_run.sh", "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "GPU_OUT": str(out), "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    for name in ("env", "cuda_tests", "bench_train", "bench_eval", "bench_compiled"):
        lines = [line for line in done.stdout.splitlines() if line.startswith(f"== {name} (limit ")]
        assert len(lines) == 1 and sys.executable in lines[0], done.stdout
    assert done.stdout.count("dry run: not executed") == 5
    assert "wheels" in done.stdout  # the carried reference is reported either way
    assert not out.exists()
    wrong = subprocess.run(["bash", "benchmarks/gpu_run.sh", "--dryrun"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert wrong.returncode == 2 and "usage" in wrong.stderr


def test_the_cuda_tests_are_collected_and_say_why_they_skip():
    import torch

    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "tests/test_cuda.py", "-q", "-rs",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if torch.cuda.is_available():
        return  # gpu_run.sh runs them for real
    assert done.returncode == 0, done.stdout[-2000:]
    assert "15 skipped" in done.stdout and "no CUDA device on this host" in done.stdout
