"""Dynamic micro-batching: requests of one image size that arrive within a short delay run as one batch,
on an inference thread, so the event loop keeps answering while a model works."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import out_of_memory

# (images of one size, whether confidences are wanted) → (labels, confidences or None)
BatchFunction = Callable[[Sequence[np.ndarray], bool], tuple[list[np.ndarray], "list[np.ndarray] | None"]]


class QueueFull(Exception):
    """The arm's queue holds ``max_queue`` requests already; the client should retry later."""


class OutOfMemory(Exception):
    """One image alone did not fit in the arm's memory (its batch was retried one image at a time)."""


@dataclass
class BatchResult:
    """One request's share of a batch: its labels, confidences, and the batch's size and seconds."""

    labels: np.ndarray
    confidence: np.ndarray | None
    batch_size: int
    seconds: float


@dataclass
class _Job:
    image: np.ndarray
    confidence: bool
    future: asyncio.Future
    enqueued: float
    key: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.key = self.image.shape


class MicroBatcher:
    """Queue of one arm. :meth:`submit` returns a future of a :class:`BatchResult`; :meth:`run` (a task
    on the event loop) forms batches of up to ``max_batch`` same-size images, waiting for more at most
    ``max_delay_s`` after the oldest request's arrival or the end of the previous batch, whichever is
    later, and runs ``predict`` on ``executor``."""

    def __init__(self, predict: BatchFunction, executor: Executor, max_batch: int, max_delay_s: float, max_queue: int):
        self.predict = predict
        self.executor = executor
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        self.batch_sizes: list[int] = [0] * (max_batch + 1)  # histogram of batch sizes run
        self._pending: deque[_Job] = deque()
        self._wakeup = asyncio.Event()
        self._running = 0

    @property
    def depth(self) -> int:
        """Requests waiting for a batch (not yet running)."""
        return len(self._pending)

    def submit(self, image: np.ndarray, confidence: bool = False) -> asyncio.Future:
        """Queue one RGB image; raises :class:`QueueFull` when ``max_queue`` requests are waiting."""
        if len(self._pending) >= self.max_queue:
            raise QueueFull(f"{len(self._pending)} requests are waiting")
        loop = asyncio.get_running_loop()
        job = _Job(image, confidence, loop.create_future(), loop.time())
        self._pending.append(job)
        self._wakeup.set()
        return job.future

    def _take_batch(self, key: tuple[int, ...]) -> list[_Job]:
        batch: list[_Job] = []
        kept: deque[_Job] = deque()
        while self._pending:
            job = self._pending.popleft()
            if job.future.done():  # the client went away
                continue
            (batch if job.key == key and len(batch) < self.max_batch else kept).append(job)
        self._pending = kept
        return batch

    def _count_ready(self, key: tuple[int, ...]) -> int:
        return sum(1 for job in self._pending if job.key == key and not job.future.done())

    async def run(self) -> None:
        """Form and run batches until cancelled; a failing batch fails its requests, not the loop."""
        loop = asyncio.get_running_loop()
        free_since = loop.time()
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            first = self._pending[0]
            if first.future.done():
                self._pending.popleft()
                continue
            # Wait for more from the later of the oldest request's arrival and the end of the last batch:
            # under load the queue refills while a batch runs, and the answers of that batch bring their
            # clients' next requests within milliseconds.
            deadline = max(first.enqueued, free_since) + self.max_delay_s
            while self._count_ready(first.key) < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = self._take_batch(first.key)
            if not batch:
                continue
            await self._run_batch(batch)
            free_since = loop.time()

    async def _run_batch(self, batch: list[_Job]) -> None:
        """Run one batch and answer its requests. A batch that runs out of memory is run again one image
        at a time: the images that fit alone are answered, and one that does not fails alone (with
        :class:`OutOfMemory`) instead of taking the others of its batch with it."""
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            labels, confidence = await loop.run_in_executor(
                self.executor, self.predict, [job.image for job in batch], any(job.confidence for job in batch))
        except Exception as err:  # noqa: BLE001 - reported to each request of the batch
            asked = out_of_memory(err)
            if asked is not None and len(batch) > 1:
                for job in batch:
                    await self._run_batch([job])
                return
            if asked is not None:
                size = "x".join(map(str, batch[0].image.shape[:2]))
                err = OutOfMemory(f"a {size} image does not fit in this server's memory"
                                  + (f" (an allocation of {asked} failed)" if asked else ""))
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        seconds = time.perf_counter() - start
        self.batch_sizes[len(batch)] += 1
        for n, job in enumerate(batch):
            if not job.future.done():
                job.future.set_result(BatchResult(labels[n], confidence[n] if confidence else None, len(batch), seconds))
