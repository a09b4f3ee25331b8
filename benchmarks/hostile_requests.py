"""Hostile requests against the real `idrnet serve` process on 127.0.0.1: decompression bombs in every
format, stalled connections, clients that vanish mid-body. Bounded: a fixed number of connections and
a time limit on each wait.

  python benchmarks/hostile_requests.py [--model M] [--stalled 200] [--header-timeout 5] [--body-timeout 10]
                                        [--json results.jsonl]

Prints, for each case, the status the server answered, how long the answer took and the server's peak
resident memory (VmHWM) afterwards; for the stalled connections, how long until the server had closed
them all and whether /health/ready answered meanwhile.
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from crafted_images import png_bomb, patch_bmp, patch_jpeg, patch_tiff, patch_webp_lossless  # noqa: E402
from serve_load import free_port, quickstart_model  # noqa: E402


def crafted(fmt: str, w: int, h: int) -> bytes:
    """A small real image of ``fmt`` whose header is rewritten to announce w × h pixels."""
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((9, 13, 3), np.uint8)).save(buffer, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    patch = {"JPEG": patch_jpeg, "WEBP": patch_webp_lossless, "BMP": patch_bmp, "TIFF": patch_tiff}[fmt]
    return patch(buffer.getvalue(), w, h)


def post(port: int, body: bytes, timeout: float = 300) -> tuple[int, float]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/segment", data=body, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            status = reply.status
    except urllib.error.HTTPError as err:
        status = err.code
    except OSError:
        status = -1  # no answer: the connection was dropped (the server died)
    return status, time.perf_counter() - start


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stalled_connections(port: int, count: int, limit_s: float) -> dict:
    """``count`` connections that send headers and 10 bytes of a 1000-byte body, then nothing."""
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=limit_s)
        s.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
        sockets.append(s)
    start = time.perf_counter()
    ready = urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=30).status
    closed_at: list[float] = []
    statuses: list[bytes] = []

    def wait(s: socket.socket) -> None:
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
        closed_at.append(time.perf_counter() - start)
        statuses.append(data[:12])
        s.close()

    threads = [threading.Thread(target=wait, args=(s,)) for s in sockets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(limit_s)
    return {"connections": count, "ready_while_open": ready, "all_closed_after_s": round(max(closed_at), 2)
            if len(closed_at) == count else None, "answers_408": sum(s.startswith(b"HTTP/1.1 408") for s in statuses)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--stalled", type=int, default=200)
    parser.add_argument("--header-timeout", type=float, default=5.0)
    parser.add_argument("--body-timeout", type=float, default=10.0)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or str(quickstart_model(Path(folder)))
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "idrnet.cli.main", "serve", model, "--port", str(port),
                                   "--backend", "eager", "--header-timeout", str(args.header_timeout),
                                   "--body-timeout", str(args.body_timeout)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for _ in range(600):
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2).status == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            records = [{"case": "ready", "server_peak_rss_mib": round(peak_rss_mib(server.pid), 1)}]
            bomb = png_bomb(20000, 20000)
            status, seconds = post(port, bomb)
            records.append({"case": "PNG 20000x20000", "bytes": len(bomb), "status": status, "seconds": round(seconds, 3),
                            "server_peak_rss_mib": round(peak_rss_mib(server.pid), 1)})
            for fmt in ("JPEG", "WEBP", "BMP", "TIFF"):
                body = crafted(fmt, 15000, 15000)
                status, seconds = post(port, body)
                records.append({"case": f"{fmt} header 15000x15000", "bytes": len(body), "status": status,
                                "seconds": round(seconds, 3), "server_peak_rss_mib": round(peak_rss_mib(server.pid), 1)})
            stalled = stalled_connections(port, args.stalled, args.body_timeout + 30)
            records.append({"case": "stalled bodies", **stalled, "body_timeout_s": args.body_timeout})
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
            records.append({"case": "errors", **{line.split('"')[1]: int(line.split()[-1]) for line in metrics.splitlines()
                                                if line.startswith("idrnet_errors_total{")}})
            records.append({"case": "alive at the end", "status": post(port, crafted("BMP", 13, 9))[0]})
        finally:
            server.terminate()
            server.communicate(timeout=60)
        for record in records:
            print(json.dumps(record))
        if args.json:
            with open(args.json, "a") as f:
                for record in records:
                    f.write(json.dumps({"date": time.strftime("%Y-%m-%d"), **record}) + "\n")


if __name__ == "__main__":
    main()
