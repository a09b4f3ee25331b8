"""Inference benchmark in mmsegmentation's manner: warm-up, many timed runs, the median reported.

Latency, images/s, peak memory (CUDA: max allocated; CPU: peak resident set size above the level
before the runs, sampled every millisecond), parameters and GFLOPs (PyTorch's FlopCounterMode: one
multiply-add = 2 FLOPs), with the device and thread count stated. Every precision (fp32, bf16, int8)
× backend (eager PyTorch, ``torch.compile``, ONNX Runtime, OpenVINO) that idrnet runs can be measured;
see :mod:`idrnet.deploy.runtime`.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..devices import parse_device
from ..models.segmentor import Segmentor
from .runtime import Backend, check_combination


@dataclass
class BenchResult:
    """One model × backend measurement."""

    name: str
    backend: str
    precision: str
    effective_precision: str  # what ran: OpenVINO runs bf16 as fp32 on a CPU without bf16 instructions
    device: str
    threads: int
    batch: int
    size: tuple[int, int]
    runs: int
    latency_ms_median: float
    latency_ms_p10: float
    latency_ms_p90: float
    images_per_s: float
    peak_memory_mib: float
    memory_kind: str
    params_m: float | None  # None for an exported graph (its weights are not PyTorch parameters)
    gflops: float | None
    same_label: float | None = None  # share of pixels labelled as fp32 eager labels them (agreement=True)
    norm_relative: float | None = None  # ‖logits − fp32 eager logits‖ / ‖fp32 eager logits‖

    def line(self) -> str:
        """One human-readable line."""
        gf = f"{self.gflops:.1f}" if self.gflops is not None else "n/a"
        ran = "" if self.effective_precision == self.precision else f" (ran as {self.effective_precision})"
        return (f"{self.name} [{self.precision}{ran}, {self.backend}, {self.device}, {self.threads} threads, batch {self.batch}, "
                f"{self.size[0]}x{self.size[1]}]: median {self.latency_ms_median:.1f} ms "
                f"(p10 {self.latency_ms_p10:.1f}, p90 {self.latency_ms_p90:.1f}, {self.runs} runs), "
                f"{self.images_per_s:.2f} img/s, peak memory {self.peak_memory_mib:.0f} MiB ({self.memory_kind}), "
                f"{_or_na(self.params_m, '.2f')} M params, {gf} GFLOPs/image")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (4096)


class _PeakRSS:
    """Samples the resident set size in a thread; ``peak`` is the maximum seen."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> "_PeakRSS":
        self.peak = _rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _or_na(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def count_gflops(model: Segmentor, images: torch.Tensor) -> float | None:
    """GFLOPs per image of one eval forward, by PyTorch's FlopCounterMode (2 FLOPs per multiply-add); None
    for an exported graph, whose operations PyTorch does not see."""
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(model, torch.nn.Module):
        return None

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(images)
    return counter.get_total_flops() / 1e9 / images.shape[0]


def _runner(model: Segmentor, precision: str, backend: str, calibration: Sequence[torch.Tensor] | None,
            device: torch.device, threads: int) -> Callable[[torch.Tensor], object]:
    from .runtime import accelerate

    if precision == "fp32" and backend == "eager":
        return model
    return accelerate(model, precision, backend, calibration if precision == "int8" else None, device, threads)


def _measure(runner: Callable, images: torch.Tensor, runs: int) -> tuple[list[float], float]:
    """Latencies (s) of ``runs`` calls and the peak memory growth (bytes) while running."""
    device = images.device

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with _PeakRSS() as rss:
        start_rss = rss.peak
        for _ in range(runs):
            t0 = time.perf_counter()
            runner(images)
            sync()
            times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        return times, float(torch.cuda.max_memory_allocated(device) - base)
    return times, float(rss.peak - start_rss)


@torch.no_grad()
def benchmark(
    models: dict[str, Segmentor],
    size: tuple[int, int] = (512, 512),
    batch: int = 1,
    backend: Backend | Sequence[Backend] = "eager",
    warmup: int = 3,
    runs: int = 20,
    rounds: int = 1,
    device: str | torch.device = "cpu",
    precision: str | Sequence[str] = "fp32",
    calibration: Sequence[torch.Tensor] | None = None,
) -> list[BenchResult]:
    """Measure each model with each precision on each backend with a fixed random input (weights do
    not change the cost). int8 is calibrated on ``calibration`` (default: 8 noise images of the input
    size, which times it faithfully but says nothing of its accuracy).

    With several models, precisions or backends and ``rounds`` > 1 the timed runs are interleaved (A,
    B, C, A, B, C, …) so that slow drifts of a shared machine affect every pair alike and ratios between
    them (IDRNet / baseline, compiled / eager, int8 / fp32) are trustworthy; the median is over all runs
    of a pair. Results are ordered precision by precision, then backend by backend, models in the given
    order. Combinations idrnet does not run (int8 eager, bf16 ONNX Runtime) must not be asked for.
    """
    backends = [backend] if isinstance(backend, str) else list(dict.fromkeys(backend))
    precisions = [precision] if isinstance(precision, str) else list(dict.fromkeys(precision))
    pairs = [(p, b) for p in precisions for b in backends]
    return benchmark_pairs(models, pairs, size, batch, warmup, runs, rounds, device, calibration)


@torch.no_grad()
def benchmark_pairs(
    models: dict[str, Segmentor],
    pairs: Sequence[tuple[str, str]],
    size: tuple[int, int] = (512, 512),
    batch: int = 1,
    warmup: int = 3,
    runs: int = 20,
    rounds: int = 1,
    device: str | torch.device = "cpu",
    calibration: Sequence[torch.Tensor] | None = None,
    agreement: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[BenchResult]:
    """:func:`benchmark` for an explicit list of (precision, backend) pairs. With ``agreement`` each
    result also says how closely its output on the timing input follows fp32 eager; ``log`` is told how
    long each path took to prepare (export, quantise, compile: minutes for a large model)."""
    from .calibration import random_batches

    device = parse_device(device)
    for p, b in pairs:
        check_combination(p, b, device)
    precisions = list(dict.fromkeys(p for p, _ in pairs))
    images = torch.randn(batch, 3, *size, device=device)
    if "int8" in precisions and not calibration:
        calibration = random_batches(8, tuple(size))
    threads = torch.get_num_threads()
    runners: dict[tuple[str, str, str], Callable] = {}
    for p, b in pairs:
        for name, model in models.items():
            model.eval().to(device)
            start = time.perf_counter()
            runners[(name, p, b)] = _runner(model, p, b, calibration, device, threads)
            for _ in range(warmup):
                runners[(name, p, b)](images)
            if log:
                log(f"prepared {name} {p} {b} in {time.perf_counter() - start:.0f} s (with {warmup} warm-up runs)")
    times: dict[tuple[str, str, str], list[float]] = {key: [] for key in runners}
    peaks: dict[tuple[str, str, str], float] = {key: 0.0 for key in runners}
    per_round = max(1, -(-runs // rounds))
    for _ in range(rounds):
        for key, runner in runners.items():
            t, peak = _measure(runner, images, per_round)
            times[key] += t
            peaks[key] = max(peaks[key], peak)
    from ..models.parameters import count_parameters

    results = []
    kind = "CUDA max allocated above weights" if device.type == "cuda" else "CPU RSS growth while running"
    gflops = {name: count_gflops(model, images[:1]) for name, model in models.items()}
    for (name, p, b), ts in times.items():
        q = statistics.quantiles(ts, n=10) if len(ts) >= 2 else [ts[0]] * 9
        median = statistics.median(ts)
        runner = runners[(name, p, b)]
        ran = getattr(runner, "effective_precision", getattr(runner, "precision", p))
        if getattr(runner, "backend", b) != b:  # a failed compile that fell back to eager
            ran += f" on {runner.backend}"
        stats: dict[str, float | None] = {"same_label": None, "norm_relative": None}
        if agreement:
            from .export import output_agreement

            stats = output_agreement(models[name](images), runner(images))
        results.append(BenchResult(
            name, b, p, ran, str(device), threads if device.type == "cpu" else 0, batch, tuple(size), len(ts),
            1000 * median, 1000 * q[0], 1000 * q[-1], batch / median, peaks[(name, p, b)] / 2**20, kind,
            count_parameters(models[name]) / 1e6 if isinstance(models[name], torch.nn.Module) else None,
            gflops[name], stats["same_label"], stats["norm_relative"]))
    return results
