"""A/B bookkeeping: per-arm request counts and latencies, the window of recent predictions that ground-truth
feedback refers to, per-image IoU areas, the mIoU difference with a bootstrap interval, and the A/B log
(JSON lines) a restarted server resumes from."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..evaluation.compare import areas_of_confusion, independent_bootstrap, miou_of_areas, paired_bootstrap
from ..evaluation.confusion import confusion_of

LATENCY_WINDOW = 10_000  # percentiles are over each arm's most recent requests
# A condition tag (X-Condition: night) is a short name; a server keeps statistics for at most this many,
# so that a client sending a new tag per request cannot grow its memory without bound.
MAX_CONDITIONS = 32
CONDITION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
log = logging.getLogger("idrnet.serve")


def _record(line: str) -> dict[str, Any] | None:
    """A parsed A/B log record, or None for a line that is not one."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and "event" in record else None


def check_is_ab_log(path: Path) -> None:
    """Refuse, before a byte of it is changed, a file that is not an A/B log (a picture, a model, a config
    given to --ab-log by mistake): an A/B log is empty or opens with a server's start record, whole or, in
    a log whose first line was never finished, cut."""
    with open(path, "rb") as reader:
        head = reader.read(1 << 16)
    if not head:
        return
    first, newline, _ = head.partition(b"\n")
    record = _record(first.decode("utf-8", errors="replace")) if newline else None
    if record is not None and record["event"] == "start":
        return
    if not newline and len(head) < (1 << 16) and head.startswith(b'{"event": "start"'):
        return  # a server killed while writing its first record: repair_cut_end removes it
    raise InputError(f"--ab-log {path} is not an A/B log (it does not begin with a server's start record) and was "
                     "left as it is: choose a new file, or the log of an earlier run of this experiment")


def repair_cut_end(file: Any, path: Path) -> int:
    """Cut away an A/B log's unfinished last line (a server killed while writing it), so that the next
    record starts on a line of its own; returns the bytes removed. ``file``: the log, open and locked."""
    size = os.fstat(file.fileno()).st_size
    if size == 0:
        return 0
    with open(path, "rb") as reader:
        reader.seek(max(0, size - (1 << 20)))
        tail = reader.read()
    if tail.endswith(b"\n"):
        return 0
    last = tail.rfind(b"\n")
    if last < 0 and size > len(tail):
        raise InputError(f"--ab-log {path}: its last megabyte holds no line break; this is not an A/B log")
    cut = tail[last + 1:]
    if _record(cut.decode("utf-8", errors="replace")) is not None:
        file.write("\n")  # a whole record whose line break was not written
        file.flush()
        return 0
    os.ftruncate(file.fileno(), size - len(cut))
    log.warning("--ab-log %s: removed %d bytes of an unfinished last record (the server writing it was stopped)",
                path, len(cut))
    return len(cut)


class FeedbackError(Exception):
    """Feedback that cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def pack_labels(labels: np.ndarray) -> tuple[bytes, str, tuple[int, int]]:
    """Labels compressed for the feedback window (label maps shrink 20–100× with zlib's fastest level)."""
    array = np.ascontiguousarray(labels)
    return zlib.compress(array.tobytes(), 1), array.dtype.str, tuple(array.shape)


def unpack_labels(packed: tuple[bytes, str, tuple[int, int]]) -> np.ndarray:
    """Inverse of :func:`pack_labels`."""
    data, dtype, shape = packed
    # a bytearray, so that the array is writable (torch.from_numpy warns about read-only arrays)
    return np.frombuffer(bytearray(zlib.decompress(data)), dtype=np.dtype(dtype)).reshape(shape)


def image_areas(prediction: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class intersection and union pixel counts (int64, length K) of one prediction — the confusion
    matrix and areas `idrnet compare` uses, on numpy label maps."""
    import torch

    confusion = confusion_of(torch.from_numpy(np.ascontiguousarray(prediction)),
                             torch.from_numpy(np.ascontiguousarray(target)), num_classes, ignore_index)
    return areas_of_confusion(confusion)


def _sparse(inter: np.ndarray, union: np.ndarray) -> list[list[int]]:
    keep = np.flatnonzero(union)
    return [keep.tolist(), inter[keep].tolist(), union[keep].tolist()]


def _dense(sparse: list[list[int]], k: int) -> tuple[np.ndarray, np.ndarray]:
    classes, inter, union = (np.asarray(v, dtype=np.int64) for v in sparse)
    if classes.size and (classes.min() < 0 or classes.max() >= k):
        raise InputError(f"class index out of range 0..{k - 1}")
    dense_inter, dense_union = np.zeros(k, np.int64), np.zeros(k, np.int64)
    dense_inter[classes], dense_union[classes] = inter, union
    return dense_inter, dense_union


@dataclass
class _Prediction:
    arm: str
    labels: tuple[bytes, str, tuple[int, int]]
    shadow: Any = None  # shadow mode: B's packed labels, or the future that brings them
    answered: bool = False
    condition: str | None = None

    @property
    def nbytes(self) -> int:
        return len(self.labels[0]) + (len(self.shadow[0]) if isinstance(self.shadow, tuple) else 0)


@dataclass
class _ArmStats:
    model: str
    requests: int = 0
    latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    inter: list[np.ndarray] = field(default_factory=list)
    union: list[np.ndarray] = field(default_factory=list)
    conditions: list[str | None] = field(default_factory=list)  # the condition of each feedback image
    condition_requests: dict[str, int] = field(default_factory=dict)

    def count(self, latency_ms: float, condition: str | None) -> None:
        self.requests += 1
        self.latencies.append(latency_ms)
        if condition is not None:
            self.condition_requests[condition] = self.condition_requests.get(condition, 0) + 1


class ABLedger:
    """What the server knows about its arms' traffic and accuracy.

    Called from the event loop; :meth:`summary` may run on another thread (it copies under a lock).
    ``arms``: arm name → model source; ``mode``: single, split or shadow.
    """

    def __init__(self, arms: dict[str, str], num_classes: int, ignore_index: int, mode: str, split: float,
                 window: int = 1000, window_bytes: int = 256 << 20, log: Path | None = None, resamples: int = 1000,
                 public: dict[str, str] | None = None) -> None:
        self.arms = {name: _ArmStats(model) for name, model in arms.items()}
        self.public = public or dict(arms)  # the models' names in the report (the log keeps the sources)
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.mode, self.split = mode, split
        self.window, self.window_bytes = window, window_bytes
        self.resamples = resamples
        self._pairs: list[np.ndarray] = []  # (4, K) areas of feedback on both arms' predictions of one image
        self._pair_conditions: list[str | None] = []
        self._conditions: set[str] = set()
        self._predictions: OrderedDict[str, _Prediction] = OrderedDict()
        self._window_used = 0
        self._lock = threading.Lock()
        self._summary_cache: tuple[int, dict[str, Any]] | None = None
        self._version = 0
        self.log_path = log
        self._log = None
        if log is not None:
            import fcntl

            log.parent.mkdir(parents=True, exist_ok=True)
            if log.is_dir():
                raise IsADirectoryError(f"--ab-log {log} is a folder; expected a JSON-lines file")
            if log.exists():
                check_is_ab_log(log)
            self._log = open(log, "a", encoding="utf-8")
            try:
                # one server per log: two appending to one file would count each other's requests
                fcntl.flock(self._log.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                self._log.close()
                self._log = None
                raise InputError(f"--ab-log {log} is in use by another running server: choose another file") from err
            try:
                self.repaired_bytes = repair_cut_end(self._log, log)
                self.resumed = self._replay(log)
            except Exception:
                self.close()
                raise
            self._write({"event": "start", "time": time.time(), "mode": mode, "split": split,
                         "num_classes": num_classes, "arms": {n: s.model for n, s in self.arms.items()}})

    # -- the A/B log --------------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {"mode": self.mode, "num_classes": self.num_classes, "arms": {n: s.model for n, s in self.arms.items()}}

    def _replay(self, path: Path) -> int:
        """Restore the statistics of an earlier run of the same experiment; returns the records read."""
        if not path.exists():
            return 0
        records = 0
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            record = _record(line)
            if record is None:
                # Earlier versions wrote the next start record onto a cut line: keep that record.
                start = line.rfind('{"event"')
                record = _record(line[start:]) if start > 0 else None
                if record is None:
                    raise InputError(f"--ab-log {path}:{number} is not an A/B log record; choose another --ab-log")
                log.warning("--ab-log %s:%d: skipped %d bytes of a cut record before the next one", path, number, start)
            event = record["event"]
            if event == "start":
                stored = {"mode": record.get("mode"), "num_classes": record.get("num_classes"), "arms": record.get("arms")}
                if stored != self._identity():
                    raise InputError(
                        f"--ab-log {path} holds another experiment ({json.dumps(stored)}; this server: "
                        f"{json.dumps(self._identity())}): choose another --ab-log to start a new one")
            elif event == "request" and record.get("arm") in self.arms:
                condition = record.get("condition")
                self.arms[record["arm"]].count(float(record["latency_ms"]), condition)
                if condition is not None:
                    self._conditions.add(condition)
            elif event == "feedback":
                self._add_areas({arm: _dense(sparse, self.num_classes) for arm, sparse in record["areas"].items()
                                 if arm in self.arms}, record.get("condition"))
            records += 1
        self._version += 1
        return records

    def _add_areas(self, areas: dict[str, tuple[np.ndarray, np.ndarray]], condition: str | None = None) -> None:
        for arm, (inter, union) in areas.items():
            self.arms[arm].inter.append(inter)
            self.arms[arm].union.append(union)
            self.arms[arm].conditions.append(condition)
        if len(areas) == 2:
            self._pairs.append(np.stack([*areas["A"], *areas["B"]]))
            self._pair_conditions.append(condition)

    def _write(self, record: dict[str, Any]) -> None:
        if self._log is not None:
            self._log.write(json.dumps(record) + "\n")
            self._log.flush()  # a line per event: a killed server loses at most the line being written

    def close(self) -> None:
        """Flush and close the A/B log."""
        if self._log is not None:
            self._log.flush()
            os.fsync(self._log.fileno())
            self._log.close()
            self._log = None

    # -- requests and feedback ----------------------------------------------------------------------
    def check_condition(self, condition: str | None) -> None:
        """Refuse a condition tag that is not a short name, or a new one beyond :data:`MAX_CONDITIONS`."""
        if condition is None:
            return
        if not CONDITION_PATTERN.fullmatch(condition):
            raise InputError(f"condition {condition[:80]!r}: expected a short name (letters, digits, '_', '.', ':', '-'; "
                             "at most 64 characters), e.g. night")
        if condition not in self._conditions and len(self._conditions) >= MAX_CONDITIONS:
            raise InputError(f"condition {condition!r}: this server already tracks {MAX_CONDITIONS} conditions "
                             f"({', '.join(sorted(self._conditions)[:8])}, …); reuse one of them")

    def record_request(self, request_id: str, arm: str, labels: np.ndarray, latency_ms: float, inference_ms: float,
                       shadow: Any = None, condition: str | None = None) -> None:
        """Count a request and keep its prediction for feedback (``shadow``: the future of B's labels;
        ``condition``: the request's condition tag, checked by :meth:`check_condition`)."""
        stats = self.arms[arm]
        latency_ms = round(latency_ms, 3)  # as logged, so that a resumed server reports the same figures
        with self._lock:
            stats.count(latency_ms, condition)
            if condition is not None:
                self._conditions.add(condition)
            self._version += 1
        entry = _Prediction(arm, pack_labels(labels), shadow, condition=condition)
        self._predictions[request_id] = entry
        self._window_used += entry.nbytes
        while len(self._predictions) > self.window or (self._window_used > self.window_bytes and len(self._predictions) > 1):
            _, old = self._predictions.popitem(last=False)
            self._window_used -= old.nbytes
        self._write({"event": "request", "id": request_id, "arm": arm, "latency_ms": latency_ms,
                     "inference_ms": round(inference_ms, 3), "time": time.time(),
                     **({"condition": condition} if condition is not None else {})})

    def record_shadow(self, request_id: str, labels: np.ndarray, inference_ms: float) -> None:
        """Count B's shadow prediction of request ``request_id`` (shadow mode)."""
        stats = self.arms["B"]
        inference_ms = round(inference_ms, 3)
        entry = self._predictions.get(request_id)
        condition = entry.condition if entry is not None else None
        with self._lock:
            stats.count(inference_ms, condition)
            self._version += 1
        if entry is not None:
            entry.shadow = pack_labels(labels)
            self._window_used += len(entry.shadow[0])
        self._write({"event": "request", "id": request_id, "arm": "B", "shadow": True,
                     "latency_ms": inference_ms, "inference_ms": inference_ms, "time": time.time(),
                     **({"condition": condition} if condition is not None else {})})

    def prediction(self, request_id: str) -> _Prediction:
        """The kept prediction of a request, or :class:`FeedbackError` 404/409."""
        entry = self._predictions.get(request_id)
        if entry is None:
            raise FeedbackError(404, f"unknown request id {request_id!r} (never seen, or older than the last "
                                     f"{self.window} predictions kept for feedback)")
        if entry.answered:
            raise FeedbackError(409, f"feedback for request {request_id} was already recorded")
        return entry

    def feedback(self, request_id: str, target: np.ndarray, shadow_labels: np.ndarray | None = None) -> dict[str, Any]:
        """Score the kept prediction(s) of ``request_id`` against the ground-truth ``target``."""
        entry = self.prediction(request_id)
        prediction = unpack_labels(entry.labels)
        if target.shape != prediction.shape:
            raise FeedbackError(422, f"the ground truth is {target.shape[1]}×{target.shape[0]} (W×H), the request's "
                                     f"image was {prediction.shape[1]}×{prediction.shape[0]}")
        bad = (target != self.ignore_index) & ((target < 0) | (target >= self.num_classes))
        if bad.any():
            values = np.unique(target[bad])[:8].tolist()
            raise FeedbackError(422, f"the ground truth holds label values {values} outside the model's classes "
                                     f"0..{self.num_classes - 1} (unlabelled pixels: {self.ignore_index})")
        scored = {entry.arm: prediction}
        if shadow_labels is not None:
            scored["B"] = shadow_labels
        areas = {arm: image_areas(labels, target, self.num_classes, self.ignore_index) for arm, labels in scored.items()}
        with self._lock:
            self._add_areas(areas, entry.condition)
            self._version += 1
        entry.answered = True
        self._write({"event": "feedback", "id": request_id, "time": time.time(),
                     "areas": {arm: _sparse(*a) for arm, a in areas.items()},
                     **({"condition": entry.condition} if entry.condition is not None else {})})
        labelled = int(((target != self.ignore_index) & (target >= 0)).sum())
        return {"request_id": request_id, "arms": {arm: float(miou_of_areas(*a)) for arm, a in areas.items()},
                "labelled_pixels": labelled}

    # -- the report ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """``GET /v1/ab``: per-arm counts, mIoU and latency percentiles, and B − A with its 95 % interval;
        the same (without latencies) for each condition tag seen, under ``conditions``."""
        with self._lock:
            version = self._version
            if self._summary_cache is not None and self._summary_cache[0] == version:
                return self._summary_cache[1]
            snapshot = {name: (s.model, s.requests, list(s.latencies), list(s.inter), list(s.union), list(s.conditions),
                               dict(s.condition_requests)) for name, s in self.arms.items()}
            pairs, pair_conditions = list(self._pairs), list(self._pair_conditions)
            conditions = sorted(self._conditions)
        k = self.num_classes
        areas = {name: (np.stack(inter) if inter else np.zeros((0, k), np.int64),
                        np.stack(union) if union else np.zeros((0, k), np.int64))
                 for name, (_, _, _, inter, union, _, _) in snapshot.items()}
        stacked = np.stack(pairs) if pairs else np.zeros((0, 4, k), np.int64)
        arms, difference = self._compare(areas, stacked, {name: v[1] for name, v in snapshot.items()})
        for name, (model, _, latencies, *_) in snapshot.items():
            p50, p95 = (np.percentile(latencies, [50, 95]).tolist() if latencies else (None, None))
            arms[name] = {"model": self.public.get(name, model), **arms[name], "latency_ms_p50": p50, "latency_ms_p95": p95}
        by_condition = {}
        for condition in conditions:
            chosen = {name: np.array([c == condition for c in v[5]], dtype=bool) for name, v in snapshot.items()}
            part = {name: (a[0][chosen[name]], a[1][chosen[name]]) for name, a in areas.items()}
            paired = stacked[np.array([c == condition for c in pair_conditions], dtype=bool)] if pairs else stacked
            by_condition[condition] = dict(zip(("arms", "difference"), self._compare(
                part, paired, {name: v[6].get(condition, 0) for name, v in snapshot.items()})))
        result = {"mode": self.mode, "split": self.split if self.mode == "split" else None, "arms": arms,
                  "difference": difference, "conditions": by_condition}
        with self._lock:
            self._summary_cache = (version, result)
        return result

    def _compare(self, areas: dict[str, tuple[np.ndarray, np.ndarray]], pairs: np.ndarray,
                 requests: dict[str, int]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Per-arm requests, feedback images and mIoU of some feedback, and B − A with its interval:
        paired over the images both arms predicted (shadow), independent otherwise (split)."""
        arms = {}
        for name, (inter, union) in areas.items():
            with np.errstate(invalid="ignore"):
                miou = float(miou_of_areas(inter.sum(0), union.sum(0))) if len(inter) else None
            arms[name] = {"requests": requests[name], "feedback_images": len(inter),
                          "miou": None if miou is None or np.isnan(miou) else miou}
        difference = None
        if self.mode == "shadow" and len(pairs):
            delta, low, high = paired_bootstrap(*(pairs[:, i] for i in range(4)), resamples=self.resamples)
            difference = {"paired": True, "images": len(pairs)}
        elif self.mode == "split" and arms["A"]["feedback_images"] and arms["B"]["feedback_images"]:
            delta, low, high = independent_bootstrap(*areas["A"], *areas["B"], resamples=self.resamples)
            difference = {"paired": False, "images": arms["A"]["feedback_images"] + arms["B"]["feedback_images"]}
        if difference is not None:
            finite = [None if np.isnan(v) else v for v in (delta, low, high)]
            difference = {"miou_b_minus_a": finite[0], "ci95": finite[1:], **difference, "resamples": self.resamples}
        return arms, difference
