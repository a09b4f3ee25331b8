"""Closed-loop load test of `idrnet serve` on 127.0.0.1: N clients, each sending its next request when the
last one is answered, a fixed number of requests and a time limit per configuration.

  python benchmarks/serve_load.py [--model runs/quickstart/final.safetensors] [--concurrency 8]
                                  [--requests 1000] [--size 256] [--backends eager onnxruntime]
                                  [--batches 1 8] [--time-limit 600] [--json results.jsonl]

For every backend × max-batch it starts the real server process, sends 50 warm-up requests, reads the
server's RSS, sends the timed requests (256×256 PNGs from a pool of 16 random images, POST
/v1/segment, label PNG answers), reads the RSS again, and prints throughput, latency percentiles, errors
and RSS growth. Batch 1 is one-at-a-time inference; batch 8 is dynamic micro-batching (--max-delay-ms 5).
Without --model it uses the quickstart model's file when present and otherwise an untrained model of the
quickstart config with the same data description (the same computation: timing does not depend on weights).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART_CONFIG = ROOT / "configs" / "quickstart_synth_idrnet_fcn_r18.yaml"
QUICKSTART_MODEL = ROOT / "runs" / "quickstart" / "final.safetensors"


def quickstart_model(folder: Path) -> Path:
    """The trained quickstart model, or an untrained one of its config with its data description."""
    if QUICKSTART_MODEL.is_file():
        return QUICKSTART_MODEL
    from idrnet import build_model, save_checkpoint
    from idrnet.data.description import DataDescription
    from idrnet.data.synth import CLASSES, PALETTE
    from idrnet.engine.config import load_train_config

    config = load_train_config(QUICKSTART_CONFIG)
    meta = DataDescription(tuple(CLASSES), tuple(tuple(c) for c in PALETTE), 255, (),
                    tuple(config.data.scale), True)
    return save_checkpoint(build_model(config.model).eval(), folder / "quickstart_untrained.safetensors",
                           data_description=meta.to_json())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start(model: Path, backend: str, max_batch: int, port: int, threads: int | None) -> subprocess.Popen:
    args = [sys.executable, "-m", "idrnet.cli.main", "serve", str(model), "--port", str(port), "--backend", backend,
            "--max-batch", str(max_batch), "--max-delay-ms", "5", "--max-queue", "256"]
    if threads:
        args += ["--threads", str(threads)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health/ready")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("server not ready after 300 s")


def load(port: int, bodies: list[bytes], concurrency: int, requests: int, time_limit: float) -> dict[str, object]:
    """Run ``requests`` requests from ``concurrency`` closed-loop clients; latencies in ms and error count."""
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    stop_at = time.perf_counter() + time_limit

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.perf_counter() < stop_at:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            start = time.perf_counter()
            try:
                connection.request("POST", "/v1/segment", body=bodies[n % len(bodies)],
                                   headers={"Content-Type": "image/png", "X-Client-Id": f"client-{index}"})
                reply = connection.getresponse()
                reply.read()
                ok = reply.status == 200
            except OSError as err:
                ok = False
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                reply = err
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors.append(str(getattr(reply, "status", reply)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "latencies": latencies, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--backends", nargs="+", default=["eager", "onnxruntime"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per configuration")
    parser.add_argument("--threads", type=int, help="server inference threads (default: PyTorch's)")
    parser.add_argument("--json", type=Path, help="append one JSON line per configuration")
    args = parser.parse_args()

    from PIL import Image

    workdir = Path(tempfile.mkdtemp(prefix="idrnet_serve_load_"))
    model = args.model or quickstart_model(workdir)
    rng = np.random.default_rng(0)
    bodies = []
    for _ in range(16):
        buffer = io.BytesIO()
        Image.fromarray((rng.random((args.size, args.size, 3)) * 255).astype(np.uint8)).save(buffer, format="PNG")
        bodies.append(buffer.getvalue())
    print(f"model {model}; {args.concurrency} clients, {args.requests} requests of {args.size}×{args.size} PNG per "
          f"configuration; {os.cpu_count()} CPUs", flush=True)
    rows = []
    for backend in args.backends:
        for max_batch in args.batches:
            port = free_port()
            process = start(model, backend, max_batch, port, args.threads)
            try:
                load(port, bodies, args.concurrency, args.warmup, args.time_limit)
                rss_before = rss_mib(process.pid)
                result = load(port, bodies, args.concurrency, args.requests, args.time_limit)
                rss_after = rss_mib(process.pid)
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", "/metrics")
                metrics = connection.getresponse().read().decode()
            finally:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=120)
            latencies = np.asarray(result["latencies"])
            batches = {int(line.split('size="')[1].split('"')[0]): int(float(line.split()[-1]))
                       for line in metrics.splitlines() if line.startswith("idrnet_batches_total")}
            mean_batch = sum(k * v for k, v in batches.items()) / max(1, sum(batches.values()))
            row = {
                "backend": backend, "max_batch": max_batch, "concurrency": args.concurrency, "size": args.size,
                "requests": len(latencies), "errors": len(result["errors"]), "seconds": round(result["seconds"], 2),
                "throughput_rps": round(len(latencies) / result["seconds"], 2),
                "p50_ms": round(float(np.percentile(latencies, 50)), 1) if len(latencies) else None,
                "p95_ms": round(float(np.percentile(latencies, 95)), 1) if len(latencies) else None,
                "p99_ms": round(float(np.percentile(latencies, 99)), 1) if len(latencies) else None,
                "rss_before_mib": round(rss_before, 1), "rss_after_mib": round(rss_after, 1),
                "rss_growth_pct": round(100 * (rss_after - rss_before) / rss_before, 2),
                "mean_batch": round(mean_batch, 2), "exit_code": process.returncode, "model": str(model),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(row) + "\n")
    print("\n| backend | max batch | mean batch | requests | errors | req/s | p50 ms | p95 ms | p99 ms | RSS before → after MiB (growth) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['max_batch']} | {r['mean_batch']} | {r['requests']} | {r['errors']} | "
              f"{r['throughput_rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
              f"{r['rss_before_mib']} → {r['rss_after_mib']} ({r['rss_growth_pct']:+.1f} %) |")
    for backend in args.backends:
        one = next((r for r in rows if r["backend"] == backend and r["max_batch"] == 1), None)
        for r in rows:
            if one and r["backend"] == backend and r["max_batch"] > 1:
                print(f"{backend}: batching ×{r['throughput_rps'] / one['throughput_rps']:.2f} throughput "
                      f"(max batch {r['max_batch']} vs 1)")


if __name__ == "__main__":
    main()
