"""Settings of ``idrnet serve``, checked once so that a wrong value is an error naming its flag."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import InputError

Mode = Literal["single", "split", "shadow"]


@dataclass(frozen=True)
class ServeOptions:
    """How the server batches, limits and A/B-tests requests.

    ``split``: the fraction of clients sent to arm B (``mode == "split"``); in ``shadow`` mode both arms
    predict every request and A answers. ``feedback_window``: how many recent predictions are kept for
    ground-truth feedback (older request ids answer 404); ``feedback_window_mb`` bounds their memory.
    Deadlines against clients that connect and then stall: ``header_timeout_s`` for a request's headers
    to arrive, ``body_timeout_s`` for its whole body (408 after it), ``keep_alive_s`` for an idle
    connection between requests. ``expose_paths``: public answers show the models' paths, not their names.
    """

    mode: Mode = "single"
    split: float = 0.5
    max_batch: int = 8
    max_delay_ms: float = 5.0
    max_queue: int = 64
    max_body_mb: float = 20.0
    max_pixels: int = 40_000_000
    feedback_window: int = 1000
    feedback_window_mb: float = 256.0
    ab_log: Path | None = None
    resamples: int = 1000
    request_timeout_s: float = 120.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keep_alive_s: float = 5.0
    expose_paths: bool = False

    def __post_init__(self) -> None:
        checks = {
            "--split": (self.split, 0.0 < self.split < 1.0, "a fraction strictly between 0 and 1"),
            "--max-batch": (self.max_batch, self.max_batch >= 1, "at least 1"),
            "--max-delay-ms": (self.max_delay_ms, math.isfinite(self.max_delay_ms) and self.max_delay_ms >= 0, "≥ 0"),
            "--max-queue": (self.max_queue, self.max_queue >= 1, "at least 1"),
            "--max-body-mb": (self.max_body_mb, math.isfinite(self.max_body_mb) and self.max_body_mb > 0, "> 0"),
            "--max-pixels": (self.max_pixels, self.max_pixels >= 1, "at least 1"),
            "--feedback-window": (self.feedback_window, self.feedback_window >= 1, "at least 1"),
            "--feedback-window-mb": (self.feedback_window_mb, self.feedback_window_mb > 0, "> 0"),
            "--resamples": (self.resamples, self.resamples >= 10, "at least 10"),
            "--header-timeout": (self.header_timeout_s, math.isfinite(self.header_timeout_s) and self.header_timeout_s > 0, "> 0 seconds"),
            "--body-timeout": (self.body_timeout_s, math.isfinite(self.body_timeout_s) and self.body_timeout_s > 0, "> 0 seconds"),
            "--timeout-keep-alive": (self.keep_alive_s, math.isfinite(self.keep_alive_s) and self.keep_alive_s > 0, "> 0 seconds"),
        }
        for flag, (value, ok, expected) in checks.items():
            if not ok:
                raise InputError(f"{flag} {value}: expected {expected}")
        if self.mode not in ("single", "split", "shadow"):
            raise InputError(f"unknown serving mode {self.mode!r}; expected single, split or shadow")

    @property
    def max_body_bytes(self) -> int:
        """The request size limit in bytes."""
        return int(self.max_body_mb * 1024 * 1024)
