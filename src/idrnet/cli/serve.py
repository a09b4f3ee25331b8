"""Serve a model over HTTP, or two side by side as an online A/B test scored by ground-truth feedback.

  idrnet serve MODEL [MODEL_B (--split FRACTION | --shadow)] [--host 127.0.0.1] [--port 8000]
               [--precision fp32|bf16|int8] [--backend auto|eager|compile|onnxruntime|openvino] [--max-batch N] [--max-delay-ms T] [--ab-log FILE]

MODEL is anything `idrnet predict` accepts (a zoo name with --checkpoint, a .safetensors file, a model
YAML, a config line, an .onnx file); MODEL_B may also be given as --model-b. The page at
http://HOST:PORT/ segments dropped images with both arms and shows the live A/B dashboard; the API is
described at /openapi.json and in docs/serving.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import socket
from pathlib import Path

from ..errors import InputError
from .common import add_precision_arguments, at_least, check_writable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet serve``."""
    parser.add_argument("model", help="arm A: zoo name, .safetensors, model YAML, config line or .onnx file")
    # `serve A B`, as compare and robustness take two models; --model-b says the same.
    parser.add_argument("second_model", nargs="?", metavar="MODEL_B", help="arm B (the same as --model-b)")
    parser.add_argument("--checkpoint", help="arm A's weights for a zoo name or YAML: a path, URL or 'official'")
    parser.add_argument("--model-b", help="arm B, for an A/B test (same classes as A)")
    parser.add_argument("--checkpoint-b", help="arm B's weights (as --checkpoint)")
    ab = parser.add_mutually_exclusive_group()
    ab.add_argument("--split", type=float, help="fraction of clients answered by B (by a hash of X-Client-Id)")
    ab.add_argument("--shadow", action="store_true", help="B predicts every request too; A answers (paired A/B)")
    parser.add_argument("--data", help="custom dataset folder (or its dataset.yaml, or a training config) "
                                       "giving class names and colours")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--max-batch", type=int, default=8, help="most same-size requests per batch (default 8)")
    parser.add_argument("--max-delay-ms", type=float, default=5.0,
                        help="how long the oldest request waits for others to batch with (default 5)")
    parser.add_argument("--max-queue", type=int, default=64, help="waiting requests per arm before 503 (default 64)")
    parser.add_argument("--max-body-mb", type=float, default=20.0, help="request size limit in MiB (default 20)")
    parser.add_argument("--max-pixels", type=int, default=40_000_000, help="image size limit in pixels (default 40M)")
    parser.add_argument("--feedback-window", type=int, default=1000,
                        help="recent predictions kept for ground-truth feedback (default 1000)")
    parser.add_argument("--ab-log", help="append every request and feedback here (JSON lines); a restart resumes from it")
    parser.add_argument("--header-timeout", type=float, default=10.0,
                        help="seconds a connection may take to send a request's headers (default 10)")
    parser.add_argument("--body-timeout", type=float, default=60.0,
                        help="seconds a request's whole body may take to arrive before 408 (default 60)")
    parser.add_argument("--timeout-keep-alive", type=float, default=5.0,
                        help="seconds an idle connection is kept open between requests (default 5)")
    parser.add_argument("--expose-paths", action="store_true",
                        help="show the models' file paths in /v1/models and /v1/ab (default: their names only)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the A/B interval (default 1000)")
    parser.add_argument("--no-test-resize", action="store_true", help="run at the image's own size, not the dataset's test scale")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--threads", type=at_least(1), help="CPU threads for inference (default: PyTorch's)")
    add_precision_arguments(parser)
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                        help="server log level (info shows every request; default warning)")


def _check_port(host: str, port: int) -> None:
    """Refuse a port that is taken before spending time on loading models."""
    if not 0 < port < 65536:
        raise InputError(f"--port {port}: expected 1..65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise InputError(f"cannot listen on {host}:{port} ({err.strerror}): choose another --port or --host") from err


def run(args: argparse.Namespace) -> int:
    """Load the model(s), then serve until SIGTERM or Ctrl-C."""
    from ..optional import require

    for module in ("fastapi", "uvicorn", "python_multipart"):
        require(module, "idrnet serve")
    import torch
    import uvicorn

    from ..serving.app import create_app, protocol_with_header_deadline
    from ..apis.create import official_checkpoint
    from ..serving.arm import load_arm
    from ..serving.options import ServeOptions
    from ..deploy.runtime import BACKEND_ENV
    from .common import device_from_args, precision_from_args

    if args.second_model is not None:
        if args.model_b is not None:
            raise InputError(f"arm B given twice ({args.second_model} and --model-b {args.model_b}): give one")
        args.model_b = args.second_model
    if (args.split is not None or args.shadow) and not args.model_b:
        raise InputError("--split and --shadow compare two models: add --model-b MODEL_B")
    if args.model_b and args.split is None and not args.shadow:
        raise InputError("two models need --split FRACTION (clients divided between them) or --shadow (both predict every request)")
    mode = "shadow" if args.shadow else "split" if args.model_b else "single"
    ab_log = Path(args.ab_log) if args.ab_log else None
    if ab_log is not None:
        for source in (args.model, args.model_b, args.checkpoint, args.checkpoint_b):
            if source and Path(source).exists() and Path(source).resolve() == ab_log.resolve():
                raise InputError(f"--ab-log {ab_log} is one of the models: choose another file")
    options = ServeOptions(mode=mode, split=args.split if args.split is not None else 0.5, max_batch=args.max_batch,
                           max_delay_ms=args.max_delay_ms, max_queue=args.max_queue, max_body_mb=args.max_body_mb,
                           max_pixels=args.max_pixels, feedback_window=args.feedback_window, ab_log=ab_log,
                           resamples=args.resamples, header_timeout_s=args.header_timeout, body_timeout_s=args.body_timeout,
                           keep_alive_s=args.timeout_keep_alive, expose_paths=args.expose_paths)
    _check_port(args.host, args.port)
    if ab_log is not None:
        if ab_log.is_dir():
            raise IsADirectoryError(f"--ab-log {ab_log} is a folder; expected a JSON-lines file")
        check_writable(ab_log, "--ab-log")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = device_from_args(args)

    from ..apis.load import is_graph_file

    runtime = precision_from_args(args, args.model, args.model_b)

    def arm_runtime(model: str) -> dict:
        # Requests come in any size: a compiled graph per new size would stall them for a compile each, so
        # auto is eager for a PyTorch model. An .onnx arm keeps auto (ONNX Runtime): eager cannot run it.
        if (runtime["backend"] == "auto" and args.precision != "int8" and not os.environ.get(BACKEND_ENV)
                and not is_graph_file(model)):
            return {**runtime, "backend": "eager"}
        return runtime

    arms = [load_arm("A", args.model, official_checkpoint(args.checkpoint), args.data, device=device, test_scale=not args.no_test_resize,
                     threads=args.threads, **arm_runtime(args.model))]
    if args.model_b:
        arms.append(load_arm("B", args.model_b, official_checkpoint(args.checkpoint_b), args.data, device=device,
                             test_scale=not args.no_test_resize, threads=args.threads, **arm_runtime(args.model_b)))
        from ..apis.load import same_weights_note

        same = same_weights_note(*(arm.predictor.network or arm.predictor.model for arm in arms))
        if same:
            print(f"idrnet serve: warning: {same}", file=sys.stderr, flush=True)
    app = create_app(arms, options)
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                                           http=protocol_with_header_deadline(options.header_timeout_s),
                                           timeout_keep_alive=options.keep_alive_s, timeout_graceful_shutdown=30,
                                           access_log=args.log_level in ("debug", "info")))
    names = " and ".join(f"{arm.name}: {arm.source} ({arm.predictor.precision}, {arm.backend})" for arm in arms)
    print(f"idrnet serve: {names}; {mode}{f' {options.split:g}' if mode == 'split' else ''} on "
          f"http://{args.host}:{args.port}/ (API: /openapi.json); ready once warmed up (GET /health/ready)", flush=True)
    # uvicorn re-raises the signal that stopped it after its graceful shutdown; a SIGTERM handler of our
    # own receives that re-raise, so a requested stop exits 0 instead of being killed by the default handler.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        raise InputError(f"the server did not start on {args.host}:{args.port} (see the messages above)")
    print("idrnet serve: stopped", flush=True)
    return 0
