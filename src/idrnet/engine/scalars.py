"""TensorBoard scalars written on a best-effort basis: losing them (a full disk) must neither hide the
error that matters, such as a checkpoint that could not be written, nor print tracebacks from
tensorboardX's writer thread and exit handler."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PREFIX = "idrnet-best-effort"  # tensorboardX's writer-factory prefix (it splits paths at the first ':')


class _BestEffortFile:
    """A binary file whose write errors are remembered and swallowed (events are dropped after one)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.error: OSError | None = None
        self._file = open(path, "wb")

    def _guard(self, action, *args) -> None:
        if self.error is not None:
            return
        try:
            action(*args)
        except OSError as err:
            self.error = err
            FACTORY.errors.append(err)

    def write(self, data: bytes) -> None:
        self._guard(self._file.write, data)

    def flush(self) -> None:
        self._guard(self._file.flush)

    def close(self) -> None:
        self._guard(self._file.flush)
        try:
            self._file.close()
        except OSError:
            pass  # the buffered bytes are lost either way; the error was recorded by the flush


class _Factory:
    """tensorboardX's writer factory interface: ``directory_check(path)`` and ``open(path)``."""

    def __init__(self) -> None:
        self.errors: list[OSError] = []

    @staticmethod
    def _local(path: str) -> str:
        return path[len(PREFIX) + 1:]

    def directory_check(self, path: str) -> None:
        os.makedirs(self._local(path), exist_ok=True)

    def open(self, path: str) -> _BestEffortFile:
        return _BestEffortFile(self._local(path))


FACTORY = _Factory()


def open_scalars(folder: Path) -> Any:
    """A tensorboardX ``SummaryWriter`` into ``folder`` whose failed writes only drop events
    (see :func:`dropped_events`)."""
    from tensorboardX import SummaryWriter
    from tensorboardX.record_writer import register_writer_factory

    register_writer_factory(PREFIX, FACTORY)
    FACTORY.errors.clear()  # one training at a time per process: its own failures only
    return SummaryWriter(f"{PREFIX}:{folder}")


def dropped_events() -> OSError | None:
    """The first write error of the event files opened by the last :func:`open_scalars`, if one failed."""
    return FACTORY.errors[0] if FACTORY.errors else None
