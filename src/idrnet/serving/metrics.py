"""Prometheus text exposition (format 0.0.4) of the server's counters, written by hand: a handful of
series does not need a client library."""

from __future__ import annotations

import threading
from collections import Counter

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        index = next((i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound), len(LATENCY_BUCKETS))
        self.counts[index] += 1
        self.total += seconds


def _labels(**labels: str) -> str:
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels.items())
    return "{" + ",".join(escaped) + "}"


class Metrics:
    """Requests by arm and status, errors by reason, latency histograms per arm, feedback and shadow counts."""

    def __init__(self, arms: list[str]) -> None:
        self.arms = arms
        self.requests: Counter[tuple[str, int]] = Counter()
        self.errors: Counter[str] = Counter()
        self.feedback: Counter[str] = Counter()
        self.shadow_skipped = 0
        self.latency = {arm: _Histogram() for arm in arms}
        self._lock = threading.Lock()

    def request(self, arm: str, status: int, seconds: float | None = None) -> None:
        """Count a segment request answered with ``status`` (and its latency when it succeeded)."""
        with self._lock:
            self.requests[(arm, status)] += 1
            if seconds is not None:
                self.latency[arm].observe(seconds)

    def error(self, reason: str) -> None:
        """Count a refused or failed request by reason (bad_image, too_large, queue_full, …)."""
        with self._lock:
            self.errors[reason] += 1

    def render(self, queue_depth: dict[str, int], batch_sizes: dict[str, list[int]], ready: bool) -> str:
        """The text of ``GET /metrics``."""
        lines = [
            "# HELP idrnet_ready Whether the models are loaded and warmed up.",
            "# TYPE idrnet_ready gauge",
            f"idrnet_ready {int(ready)}",
            "# HELP idrnet_requests_total Segment requests answered, by arm and HTTP status.",
            "# TYPE idrnet_requests_total counter",
        ]
        with self._lock:
            for (arm, status), n in sorted(self.requests.items()):
                lines.append(f"idrnet_requests_total{_labels(arm=arm, status=str(status))} {n}")
            lines += ["# HELP idrnet_errors_total Requests refused or failed, by reason.",
                      "# TYPE idrnet_errors_total counter"]
            for reason, n in sorted(self.errors.items()):
                lines.append(f"idrnet_errors_total{_labels(reason=reason)} {n}")
            lines += ["# HELP idrnet_feedback_total Ground-truth feedback images scored, by arm.",
                      "# TYPE idrnet_feedback_total counter"]
            for arm, n in sorted(self.feedback.items()):
                lines.append(f"idrnet_feedback_total{_labels(arm=arm)} {n}")
            lines += ["# HELP idrnet_shadow_skipped_total Shadow predictions skipped because arm B's queue was full.",
                      "# TYPE idrnet_shadow_skipped_total counter", f"idrnet_shadow_skipped_total {self.shadow_skipped}",
                      "# HELP idrnet_request_latency_seconds Time from a request's arrival to its answer, by arm.",
                      "# TYPE idrnet_request_latency_seconds histogram"]
            for arm, histogram in self.latency.items():
                cumulative = 0
                for bound, n in zip((*LATENCY_BUCKETS, float("inf")), histogram.counts):
                    cumulative += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(f"idrnet_request_latency_seconds_bucket{_labels(arm=arm, le=le)} {cumulative}")
                lines.append(f"idrnet_request_latency_seconds_sum{_labels(arm=arm)} {histogram.total:.6f}")
                lines.append(f"idrnet_request_latency_seconds_count{_labels(arm=arm)} {cumulative}")
        lines += ["# HELP idrnet_queue_depth Requests waiting for a batch, by arm.", "# TYPE idrnet_queue_depth gauge"]
        lines += [f"idrnet_queue_depth{_labels(arm=arm)} {n}" for arm, n in queue_depth.items()]
        lines += ["# HELP idrnet_batches_total Batches run, by arm and batch size.", "# TYPE idrnet_batches_total counter"]
        for arm, sizes in batch_sizes.items():
            lines += [f"idrnet_batches_total{_labels(arm=arm, size=str(size))} {n}" for size, n in enumerate(sizes) if n]
        return "\n".join(lines) + "\n"
