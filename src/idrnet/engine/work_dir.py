"""What a training run keeps in its work dir, and the rules for reusing one.

A run owns: ``latest.pt``, ``iter_N.pt``, ``best.safetensors``, ``final.safetensors``, ``log.jsonl``,
``tensorboard/``, ``skipped_samples.txt`` and ``config.yaml``. A fresh run refuses a work dir holding
another run's files unless asked to ``--overwrite`` (which removes exactly those) or to ``--resume``, and
a folder holding anything else (a dataset, a project) outright.
While a run trains, its process holds ``.lock`` in the work dir: a second run pointed at the same folder
(another terminal, a job submitted twice) is refused instead of writing over the first one's files.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import IO, Any

from ..atomic import atomic_path
from ..config import ConfigError
from ..file_errors import RUN_MARKERS

_OTHER_OUTPUTS = ("skipped_samples.txt", "config.yaml")
# What latest.pt / iter_N.pt hold (Trainer.save_state); a file without them is not a training state.
TRAINING_STATE_KEYS = ("model", "optimizer", "scaler", "rng", "iteration", "best_miou")

# Config keys a resumed run may change: where files are, how often it reports and saves, how it
# loads data. Anything else (schedule, model, data pipeline, seed) would not continue the same run.
RESUMABLE_CHANGES = frozenset({
    "work_dir", "data.root", "data.num_workers", "data.skip_bad_samples", "log_interval", "val_interval",
    "checkpoint_interval", "device", "on_nan", "max_nan_skips", "max_batch_per_process", "init_checkpoint",
    "pretrained_backbone", "keep_freed_memory", "resume",
})


LOCK_NAME = ".lock"
# A lock held by a process on another machine: NFS keeps a dead node's locks until its lease runs out
# (90 s by default), and a requeued job must not fail for that.
OTHER_HOST_WAIT_S = 150.0
_HOLDER = re.compile(r"^process (\d+) on (\S+), since ")
# POSIX record locks belong to the process: a second lockf from this process succeeds, and closing any
# descriptor of the file drops the lock. So claims made in one process (a notebook building a second
# Trainer before the first is collected) share one open file, closed when the last claim is released.
_HELD: dict[tuple[int, int], list[Any]] = {}  # (device, inode) of a held .lock -> [open file, claims]


class WorkDirLock:
    """The claim of one training process on a work dir, held until :meth:`release` or the process ends.

    A POSIX record lock (``lockf``): the system drops it when the process dies, however it dies, so a
    killed or preempted run leaves no stale claim, and forked DataLoader workers do not inherit it. A lock
    held from another machine is waited for (:data:`OTHER_HOST_WAIT_S`). On a filesystem without locks (or
    on Windows, without ``fcntl``) nothing is held and nothing refused."""

    def __init__(self, work_dir: Path) -> None:
        self.path = work_dir / LOCK_NAME
        self._file: IO[str] | None = None
        self._key: tuple[int, int] | None = None
        try:
            import fcntl
        except ImportError:
            return
        try:
            known = os.stat(self.path)
        except OSError:
            known = None
        if known is not None and (known.st_dev, known.st_ino) in _HELD:  # held by this process already
            self._key = (known.st_dev, known.st_ino)
            _HELD[self._key][1] += 1
            self._file = _HELD[self._key][0]
            return
        file = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open while the run trains
        deadline = None
        while True:
            try:
                fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EACCES, errno.EAGAIN):
                    file.close()  # locks not supported here (some network filesystems): train unguarded
                    return
            file.seek(0)
            holder = file.read().strip()
            if deadline is None:
                found = _HOLDER.match(holder)
                wait = OTHER_HOST_WAIT_S if found and found.group(2) != socket.gethostname() else 0.0
                if wait:
                    print(f"work_dir {work_dir} is held by {holder}; waiting up to {wait:.0f} s for it to be "
                          "released (a machine that stopped keeps its lock a while on a network disk)", flush=True)
                deadline = time.monotonic() + wait
            if time.monotonic() >= deadline:
                file.close()
                raise ConfigError(f"work_dir {work_dir} is in use by another training run"
                                  f"{f' ({holder})' if holder else ''}: wait for it to end, or choose another --work-dir")
            time.sleep(1.0)
        file.seek(0)
        file.truncate()
        file.write(f"process {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        file.flush()
        self._file = file
        held = os.fstat(file.fileno())
        self._key = (held.st_dev, held.st_ino)
        _HELD[self._key] = [file, 1]

    def release(self) -> None:
        """Give the work dir up (closing the file, with this process's last claim, drops the lock)."""
        if self._file is None:
            return
        entry = _HELD.get(self._key) if self._key is not None else None
        if entry is not None and entry[0] is self._file:
            entry[1] -= 1
            if entry[1] == 0:
                del _HELD[self._key]
                self._file.close()
        else:
            self._file.close()
        self._file = None

    def __del__(self) -> None:  # a Trainer built and dropped unrun gives its claim up when collected
        if getattr(self, "_file", None) is not None:
            with contextlib.suppress(Exception):  # at interpreter exit the module may be half torn down
                self.release()


def existing_run_files(work_dir: Path) -> list[Path]:
    """Files of an earlier run in ``work_dir`` (checkpoints, weights, log)."""
    found = [work_dir / n for n in RUN_MARKERS if (work_dir / n).exists()]
    return found + sorted(work_dir.glob("iter_*.pt"))


def foreign_entries(work_dir: Path) -> list[str]:
    """What a folder holds that no training run writes (a dataset's images/, a project's files), sorted; []
    for a new, empty or run folder. Hidden names (``.lock``, ``.DS_Store``) and results that ``idrnet test``
    leaves beside a run's weights (``final_results.json``) count as a run's."""
    if not work_dir.is_dir():
        return []
    ours = set(RUN_MARKERS) | set(_OTHER_OUTPUTS) | {"tensorboard"}
    return sorted(p.name + ("/" if p.is_dir() else "") for p in work_dir.iterdir()
                  if p.name not in ours and not p.name.startswith(".")
                  and not re.fullmatch(r"iter_\d+\.pt|.*\.(tmp|unreadable(\.\d+)?)|.*_results\.json", p.name))


def training_states(work_dir: Path) -> list[Path]:
    """The work dir's resumable states, newest first: ``latest.pt``, then ``iter_N.pt`` by falling N."""
    def number(path: Path) -> int:
        digits = path.stem.split("_", 1)[1]
        return int(digits) if digits.isdigit() else -1

    latest = [work_dir / "latest.pt"] if (work_dir / "latest.pt").is_file() else []
    return latest + sorted(work_dir.glob("iter_*.pt"), key=number, reverse=True)


def set_aside(path: Path) -> Path:
    """Rename an unreadable checkpoint to ``NAME.unreadable`` (``.unreadable.2``, … if taken): kept for a
    look, out of the way of the next resume."""
    target, n = path.with_name(path.name + ".unreadable"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.unreadable.{n}")
    path.rename(target)
    return target


def clear_run(work_dir: Path) -> None:
    """Remove an earlier run's files (``--overwrite``); nothing else in the folder is touched."""
    for path in existing_run_files(work_dir) + [work_dir / n for n in _OTHER_OUTPUTS]:
        path.unlink(missing_ok=True)
    shutil.rmtree(work_dir / "tensorboard", ignore_errors=True)


def remove_stale_temporaries(work_dir: Path) -> None:
    """Temporary files of atomic writes that a kill interrupted (``latest.pt…tmp``)."""
    for pattern in ("latest.pt*.tmp", "iter_*.pt*.tmp", "*.safetensors*.tmp"):
        for path in work_dir.glob(pattern):
            path.unlink(missing_ok=True)


def truncate_log(log: Path, iteration: int) -> None:
    """Drop the records after ``iteration`` (a resumed run writes them again) — atomically."""
    if not log.is_file():
        return
    kept = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if int(record.get("iteration", 0)) <= iteration:
            kept.append(line)
    with atomic_path(log) as tmp:
        Path(tmp).write_text("".join(line + "\n" for line in kept))


def logged_validation(log: Path, iteration: int) -> float | None:
    """The validation mIoU the log holds for ``iteration``, or None when that validation never finished."""
    if not log.is_file():
        return None
    found = None
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("iteration") == iteration and "val_mIoU" in record:
            found = float(record["val_mIoU"])
    return found


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): list(data) if isinstance(data, tuple) else data}


def config_changes(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``key: old → new`` for every value that differs, except :data:`RESUMABLE_CHANGES`."""
    old, new = _flatten(json.loads(json.dumps(stored))), _flatten(json.loads(json.dumps(current)))
    changes = []
    for key in sorted(set(old) | set(new)):
        if key in RESUMABLE_CHANGES or old.get(key) == new.get(key):
            continue
        changes.append(f"{key}: {old.get(key, '(unset)')!r} → {new.get(key, '(unset)')!r}")
    return changes
