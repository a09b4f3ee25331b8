"""The FastAPI application of ``idrnet serve``: health, models, segmentation, feedback, the A/B report,
Prometheus metrics and the web page."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Sequence

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from ..errors import InputError
from .arm import Arm, public_names
from .batcher import BatchResult, MicroBatcher, OutOfMemory, QueueFull
from .codecs import (HTTPProblem, class_areas, class_areas_header, decode_feedback_label, decode_request_image,
                     label_png, overlay_jpeg, segments_json)
from .ledger import ABLedger, FeedbackError, unpack_labels
from .metrics import Metrics
from .options import ServeOptions

log = logging.getLogger("idrnet.serve")
FORMATS = ("png", "json", "overlay")
_ACCEPTED = {"image/png": "png", "application/json": "json", "image/jpeg": "overlay"}


def format_from_accept(accept: str) -> str:
    """The answer's format when the URL names none: the first of the Accept header's media types we
    produce (Hugging Face's InferenceClient with ``Accept: application/json`` gets JSON), else PNG."""
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in _ACCEPTED:
            return _ACCEPTED[media]
    return "png"


def assign_arm(client_id: str | None, split: float, rng: random.Random) -> str:
    """``"B"`` for a ``split`` fraction of clients, by a stable hash of the client id (so a client keeps
    its arm across requests and restarts); a random draw when there is no id."""
    if client_id:
        draw = int.from_bytes(hashlib.sha256(client_id.encode("utf-8")).digest()[:8], "big") / 2**64
    else:
        draw = rng.random()
    return "B" if draw < split else "A"


class ServerState:
    """Everything the request handlers share: arms, their batchers, the ledger and the metrics."""

    def __init__(self, arms: Sequence[Arm], options: ServeOptions) -> None:
        if not arms or len(arms) > 2:
            raise InputError("serve one model, or two (A and B)")
        self.arms = {arm.name: arm for arm in arms}
        self.options = options
        if len(arms) == 2:
            a, b = arms
            if a.num_classes != b.num_classes or list(a.predictor.class_names) != list(b.predictor.class_names):
                raise InputError(f"an A/B test needs two models of the same classes: A ({a.source}) has {a.num_classes} "
                                 f"classes, B ({b.source}) {b.num_classes}"
                                 + ("" if a.num_classes != b.num_classes else ", named differently"))
            if options.mode == "single":
                raise InputError("two models need --split FRACTION or --shadow")
        elif options.mode != "single":
            raise InputError("--split and --shadow need a second model (--model-b)")
        first = arms[0]
        names = [a.source for a in arms] if options.expose_paths else public_names([a.source for a in arms])
        for arm, name in zip(arms, names):
            arm.public_name = name
        self.ledger = ABLedger({a.name: a.source for a in arms}, first.num_classes, first.ignore_index, options.mode,
                               options.split, options.feedback_window, int(options.feedback_window_mb * 2**20),
                               options.ab_log, options.resamples, public={a.name: a.public_name for a in arms})
        self.metrics = Metrics(list(self.arms))
        self.ready = False
        self.status = "loading"
        self.rng = random.Random()
        self.executor: ThreadPoolExecutor | None = None
        self.batchers: dict[str, MicroBatcher] = {}
        self._tasks: list[asyncio.Task] = []
        self._shadows: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Start the batchers and warm the models up on the inference thread (ready afterwards)."""
        # One inference thread: the models share the CPU cores, and PyTorch already uses them all.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="idrnet-inference")
        for name, arm in self.arms.items():
            self.batchers[name] = MicroBatcher(arm.predict, self.executor, self.options.max_batch,
                                               self.options.max_delay_ms / 1000, self.options.max_queue)
            self._tasks.append(asyncio.create_task(self.batchers[name].run(), name=f"batcher-{name}"))
        self._tasks.append(asyncio.create_task(self._warm_up(), name="warm-up"))

    async def _warm_up(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for name, arm in self.arms.items():
                seconds = await loop.run_in_executor(self.executor, arm.warm_up)
                log.info("arm %s (%s, %s) warmed up in %.1f s", name, arm.source, arm.backend, seconds)
        except Exception as err:  # noqa: BLE001 - reported by /health/ready and the log
            self.status = f"failed: {err}"
            log.error("warm-up failed: %s", err)
            return
        self.ready, self.status = True, "ready"

    async def stop(self) -> None:
        """After the last request: let shadow predictions finish, flush the A/B log, stop the threads."""
        if self._shadows:
            await asyncio.wait(self._shadows, timeout=30)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.ledger.close()
        if self.executor is not None:
            self.executor.shutdown(wait=True)

    def shadow(self, request_id: str, rgb: np.ndarray) -> asyncio.Task | None:
        """Shadow mode: queue B's prediction of the image A answers (skipped when B's queue is full)."""
        try:
            future = self.batchers["B"].submit(rgb)
        except QueueFull:
            self.metrics.shadow_skipped += 1
            return None
        task = asyncio.ensure_future(future)
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)
        return task

    def record_shadow_when_done(self, request_id: str, task: asyncio.Task) -> None:
        """Count B's shadow prediction once it exists (called after the request itself was recorded)."""
        def done(t: asyncio.Task) -> None:
            if not t.cancelled() and t.exception() is None:
                result: BatchResult = t.result()
                self.ledger.record_shadow(request_id, result.labels, result.seconds * 1000)
        task.add_done_callback(done)


class ClientGone(Exception):
    """The client closed the connection before its request was read or answered: nobody to answer."""


async def read_body(request: Any, limit: int, field: str, deadline_s: float = 60.0) -> bytes:
    """The request's payload (the raw body, or multipart field ``field``), refused beyond ``limit`` bytes
    and when it has not all arrived within ``deadline_s`` seconds (408: a stalled client holds no
    connection for ever)."""
    from starlette.formparsers import MultiPartParser
    from starlette.requests import ClientDisconnect

    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise HTTPProblem(413, f"the request has {int(length):,} bytes, more than the limit of {limit:,} (--max-body-mb)")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(deadline_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPProblem(413, f"the request has more than {limit:,} bytes (--max-body-mb)")
                chunks.append(chunk)
    except TimeoutError as err:
        raise HTTPProblem(408, f"the request body did not arrive within {deadline_s:g} s (--body-timeout); "
                               f"{size:,} bytes came", {"Connection": "close"}) from err
    except ClientDisconnect as err:
        raise ClientGone() from err
    body = b"".join(chunks)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return body

    async def once():
        yield body

    try:
        form = await MultiPartParser(request.headers, once(), max_files=4, max_fields=16, max_part_size=limit).parse()
    except Exception as err:  # noqa: BLE001 - malformed multipart bodies
        raise HTTPProblem(400, f"malformed multipart body: {err}") from err
    part = form.get(field)
    if part is None:
        raise HTTPProblem(400, f"the multipart body has no field {field!r} (fields: {', '.join(form.keys()) or 'none'})")
    return await part.read() if hasattr(part, "read") else str(part).encode()


def create_app(arms: Sequence[Arm], options: ServeOptions | None = None) -> FastAPI:
    """The application serving ``arms`` (one, or A and B) with ``options``."""
    options = options or ServeOptions()
    state = ServerState(arms, options)

    @asynccontextmanager
    async def lifespan(_app: Any):
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    # No /docs or /redoc: their script and style files come from a CDN, so offline they are blank pages.
    # The API is described by /openapi.json (and docs/serving.md).
    app = FastAPI(title="idrnet serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = state

    @app.exception_handler(HTTPProblem)
    async def problem(_request: Request, err: HTTPProblem) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=err.status, headers=err.headers)

    @app.exception_handler(ClientGone)
    async def gone(_request: Request, _err: ClientGone) -> Response:
        log.info("client disconnected before its request was read")
        state.metrics.error("client_disconnect")
        return Response(status_code=499)  # nginx's "client closed request"; nobody receives it

    @app.exception_handler(Exception)
    async def internal(_request: Request, err: Exception) -> JSONResponse:
        log.exception("internal error")
        state.metrics.error("internal")
        return JSONResponse({"error": f"internal error: {type(err).__name__}: {err}"}, status_code=500)

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"status": state.status}, status_code=200 if state.ready else 503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"mode": options.mode, "split": options.split if options.mode == "split" else None,
                "arms": {name: arm.describe() for name, arm in state.arms.items()}}

    @app.post("/v1/segment")
    async def segment(request: Request, format: str | None = None, arm: str | None = None) -> Response:
        start = time.perf_counter()
        format = format or format_from_accept(request.headers.get("accept", ""))
        if format not in FORMATS:
            state.metrics.error("bad_format")
            raise HTTPProblem(400, f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
        if arm is not None and arm not in state.arms:
            state.metrics.error("bad_arm")
            raise HTTPProblem(400, f"unknown arm {arm!r}; this server has {', '.join(state.arms)}")
        condition = request.headers.get("x-condition", "").strip() or None
        try:
            state.ledger.check_condition(condition)
        except InputError as err:
            state.metrics.error("bad_condition")
            raise HTTPProblem(400, f"X-Condition: {err}") from err
        if not state.ready:
            raise HTTPProblem(503, f"not ready ({state.status})", {"Retry-After": "2"})
        try:
            body = await read_body(request, options.max_body_bytes, "image", options.body_timeout_s)
            rgb = await asyncio.to_thread(decode_request_image, body, options.max_pixels)
        except HTTPProblem as err:
            state.metrics.error({413: "too_large", 415: "not_an_image", 408: "body_timeout"}.get(err.status, "bad_image"))
            raise
        forced = arm is not None
        chosen = arm or ("A" if options.mode != "split" else
                         assign_arm(request.headers.get("x-client-id"), options.split, state.rng))
        request_id = uuid.uuid4().hex
        try:
            future = state.batchers[chosen].submit(rgb, confidence=format == "json")
        except QueueFull as err:
            state.metrics.error("queue_full")
            state.metrics.request(chosen, 503)
            raise HTTPProblem(503, f"the server is busy ({err}); retry shortly", {"Retry-After": "1"}) from err
        shadow = state.shadow(request_id, rgb) if options.mode == "shadow" and not forced else None
        try:
            result: BatchResult = await asyncio.wait_for(future, options.request_timeout_s)
        except asyncio.TimeoutError as err:
            state.metrics.request(chosen, 504)
            raise HTTPProblem(504, f"no prediction within {options.request_timeout_s:.0f} s") from err
        except OutOfMemory as err:
            state.metrics.error("out_of_memory")
            state.metrics.request(chosen, 503)
            raise HTTPProblem(503, f"{err}; send a smaller image, or retry when the server is less busy",
                              {"Retry-After": "5"}) from err
        model = state.arms[chosen]
        meta = model.predictor.description
        if format == "png":
            content = await asyncio.to_thread(label_png, result.labels, model.num_classes, meta.palette)
            media = "image/png"
        elif format == "overlay":
            content = await asyncio.to_thread(overlay_jpeg, rgb, result.labels, meta.palette, meta.ignore_index)
            media = "image/jpeg"
        else:
            segments = await asyncio.to_thread(segments_json, result.labels, result.confidence, meta.classes)
            content, media = json.dumps(segments).encode(), "application/json"
        latency = time.perf_counter() - start
        state.ledger.record_request(request_id, chosen, result.labels, latency * 1000, result.seconds * 1000, shadow,
                                    condition)
        if shadow is not None:
            state.record_shadow_when_done(request_id, shadow)
        state.metrics.request(chosen, 200, latency)
        headers = {"X-Request-Id": request_id, "X-IDRNet-Arm": chosen, "X-Inference-Ms": f"{result.seconds * 1000:.1f}",
                   "X-Batch-Size": str(result.batch_size),
                   "X-Class-Areas": class_areas_header(class_areas(result.labels, model.num_classes))}
        return Response(content, media_type=media, headers=headers)

    @app.post("/v1/feedback")
    async def feedback(request: Request, request_id: str | None = None) -> dict[str, Any]:
        if not request_id:
            raise HTTPProblem(400, "feedback needs ?request_id=ID (the X-Request-Id of the prediction)")
        try:
            entry = state.ledger.prediction(request_id)
        except FeedbackError as err:
            raise HTTPProblem(err.status, str(err)) from err
        body = await read_body(request, options.max_body_bytes, "label", options.body_timeout_s)
        target = await asyncio.to_thread(decode_feedback_label, body, options.max_pixels)
        shadow_labels = None
        if isinstance(entry.shadow, asyncio.Future):
            try:
                shadow_result = await asyncio.wait_for(asyncio.shield(entry.shadow), options.request_timeout_s)
                shadow_labels = shadow_result.labels
            except Exception:  # noqa: BLE001 - B's shadow prediction failed: feedback scores A alone
                shadow_labels = None
        elif isinstance(entry.shadow, tuple):
            shadow_labels = unpack_labels(entry.shadow)
        try:
            result = state.ledger.feedback(request_id, target, shadow_labels)
        except FeedbackError as err:
            raise HTTPProblem(err.status, str(err)) from err
        for arm_name in result["arms"]:
            state.metrics.feedback[arm_name] += 1
        return result

    @app.get("/v1/ab")
    async def ab() -> dict[str, Any]:
        return await asyncio.to_thread(state.ledger.summary)

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        text = state.metrics.render({n: b.depth for n, b in state.batchers.items()},
                                    {n: b.batch_sizes for n, b in state.batchers.items()}, state.ready)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files("idrnet.serving").joinpath("page.html").read_text(encoding="utf-8"))

    return app


def protocol_with_header_deadline(seconds: float) -> type:
    """uvicorn's h11 protocol, closing a connection that has not sent a whole request head within
    ``seconds`` of connecting or of its last answer (uvicorn has no such deadline: a client that sends
    half a header and stalls would hold its connection for ever)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def _waiting_for_head(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self._waiting_for_head() and not self.transport.is_closing():
                log.info("closing a connection that sent no complete request head within %g s", seconds)
                self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._waiting_for_head():
                self._arm()
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # the keep-alive timeout takes over until the next byte arrives

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol
