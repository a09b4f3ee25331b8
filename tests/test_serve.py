"""`idrnet serve`: endpoints in-process, micro-batching, the A/B ledger, and the real server process."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idrnet import Predictor, build_model, save_checkpoint
from idrnet.data.labels import decode_image

from tiny import tiny_config

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from idrnet.serving.app import assign_arm, create_app  # noqa: E402
from idrnet.serving.arm import Arm  # noqa: E402
from idrnet.serving.batcher import MicroBatcher, QueueFull  # noqa: E402
from idrnet.serving.codecs import label_png  # noqa: E402
from idrnet.serving.ledger import ABLedger, image_areas  # noqa: E402
from idrnet.serving.options import ServeOptions  # noqa: E402

K = 5  # the classes of the models fixture (conftest.py)


def encode(array: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def random_rgb(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def label_bytes(labels: np.ndarray) -> bytes:
    return encode(labels.astype(np.uint8), "PNG")


def make_arms(models):
    a, b = models
    return [Arm("A", "fcn-tiny", Predictor(a), "eager"), Arm("B", "idrnet-tiny", Predictor(b), "eager")]


def post_at_once(client: TestClient, images: list[np.ndarray]) -> dict[int, object]:
    """Each image POSTed to /v1/segment from its own thread at once (so the server may batch them): replies by index."""
    replies: dict[int, object] = {}
    threads = [threading.Thread(target=lambda i=i: replies.__setitem__(i, client.post("/v1/segment", content=encode(images[i]))))
               for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return replies


def wait_ready(client: TestClient) -> None:
    for _ in range(300):
        if client.get("/health/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("the app never became ready")


@pytest.fixture(scope="module")
def split_client(models):
    arms = make_arms(models)
    app = create_app(arms, ServeOptions(mode="split", split=0.5, max_body_mb=1.0, max_pixels=200_000))
    with TestClient(app) as client:
        wait_ready(client)
        yield client, arms


def test_health_models_and_page(split_client):
    client, arms = split_client
    assert client.get("/health/live").json() == {"status": "live"}
    assert client.get("/health/ready").json() == {"status": "ready"}
    described = client.get("/v1/models").json()
    assert described["mode"] == "split" and set(described["arms"]) == {"A", "B"}
    assert described["arms"]["B"]["model"] == "idrnet-tiny"
    assert len(described["arms"]["A"]["classes"]) == K and len(described["arms"]["A"]["palette"]) == K
    page = client.get("/")
    assert page.status_code == 200 and "idrnet serve" in page.text and "/v1/ab" in page.text
    assert "://" not in page.text  # everything from this server: no CDN


def test_segment_png_equals_predictor_and_arm_is_sticky(split_client):
    client, arms = split_client
    rgb = random_rgb()
    seen = {}
    for client_id in [f"client-{i}" for i in range(12)]:
        replies = [client.post("/v1/segment", content=encode(rgb), headers={"X-Client-Id": client_id}) for _ in range(2)]
        assert all(r.status_code == 200 for r in replies)
        assert replies[0].headers["x-idrnet-arm"] == replies[1].headers["x-idrnet-arm"]  # sticky per client
        arm = replies[0].headers["x-idrnet-arm"]
        assert arm == assign_arm(client_id, 0.5, None)
        seen[arm] = replies[0]
        assert replies[0].headers["x-request-id"] != replies[1].headers["x-request-id"]
        assert float(replies[0].headers["x-inference-ms"]) > 0
    assert set(seen) == {"A", "B"}, "12 clients at split 0.5 should reach both arms"
    for arm_name, reply in seen.items():
        labels = np.asarray(Image.open(io.BytesIO(reply.content)))
        assert Image.open(io.BytesIO(reply.content)).mode == "P"
        expected = next(a for a in arms if a.name == arm_name).predictor.predict(rgb)
        np.testing.assert_array_equal(labels, expected)
        areas = json.loads(reply.headers["x-class-areas"])
        assert abs(sum(areas.values()) - 1) < 1e-3


def test_formats_json_and_overlay(split_client):
    client, arms = split_client
    rgb = random_rgb(40, 56, seed=1)
    reply = client.post("/v1/segment?format=json&arm=B", content=encode(rgb))
    assert reply.status_code == 200 and reply.headers["x-idrnet-arm"] == "B"
    segments = reply.json()
    expected = arms[1].predictor.predict(rgb)
    assert {s["class_id"] for s in segments} == set(np.unique(expected).tolist())
    for s in segments:
        mask = np.asarray(Image.open(io.BytesIO(__import__("base64").b64decode(s["mask"]))))
        np.testing.assert_array_equal(mask > 0, expected == s["class_id"])
        assert s["label"] == arms[1].predictor.class_names[s["class_id"]] and 0 < s["score"] <= 1
    assert abs(sum(s["area"] for s in segments) - 1) < 1e-6
    by_accept = client.post("/v1/segment?arm=B", content=encode(rgb), headers={"Accept": "application/json"})
    assert by_accept.headers["content-type"] == "application/json" and by_accept.json() == segments
    anything = client.post("/v1/segment?arm=B", content=encode(rgb), headers={"Accept": "*/*"})
    assert anything.headers["content-type"] == "image/png"
    overlay = client.post("/v1/segment?format=overlay", files={"image": ("x.png", encode(rgb), "image/png")})
    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(overlay.content)).size == (56, 40)


@pytest.mark.parametrize("fmt,mode", [("PNG", "L"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "I;16"), ("JPEG", "RGB"),
                                      ("WEBP", "RGB"), ("BMP", "RGB"), ("TIFF", "RGB"), ("TIFF", "CMYK")])
def test_any_format_and_mode(split_client, fmt, mode):
    client, arms = split_client
    rgb = random_rgb(32, 40, seed=2)
    image = Image.fromarray(rgb)
    if mode == "I;16":
        image = Image.fromarray((rgb[..., 0].astype(np.uint16) * 250))
    elif mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    data = buffer.getvalue()
    reply = client.post("/v1/segment?arm=A", content=data)
    assert reply.status_code == 200, reply.text
    labels = np.asarray(Image.open(io.BytesIO(reply.content)))
    assert labels.shape == (32, 40)
    np.testing.assert_array_equal(labels, arms[0].predictor.predict(decode_image(data, "x")))


def test_bad_requests_are_named_and_server_survives(split_client):
    client, _ = split_client
    png = encode(random_rgb())
    jpeg = encode(random_rgb(), "JPEG")
    cases = [
        (b"", 400, "empty"), (b"hello, world", 415, "supported format"), (png[: len(png) // 2], 400, "truncated"),
        (jpeg[: len(jpeg) // 2], 400, "truncated"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 400, ""),
    ]
    for body, status, words in cases:
        reply = client.post("/v1/segment", content=body)
        assert reply.status_code == status, (body[:20], reply.text)
        assert words in reply.json()["error"]
    too_big = client.post("/v1/segment", content=b"\x89PNG" + b"\x00" * (1024 * 1024 + 10))
    assert too_big.status_code == 413 and "--max-body-mb" in too_big.json()["error"]
    many_pixels = client.post("/v1/segment", content=encode(np.zeros((500, 500), np.uint8)))
    assert many_pixels.status_code == 413 and "500×500" in many_pixels.json()["error"]
    assert client.post("/v1/segment?format=gif", content=png).status_code == 400
    assert "unknown arm" in client.post("/v1/segment?arm=C", content=png).json()["error"]
    missing = client.post("/v1/segment", files={"picture": ("x.png", png, "image/png")})
    assert missing.status_code == 400 and "'image'" in missing.json()["error"]
    assert client.post("/v1/segment", content=png).status_code == 200  # still serving
    metrics = client.get("/metrics").text
    assert 'idrnet_errors_total{reason="too_large"}' in metrics and 'idrnet_errors_total{reason="not_an_image"}' in metrics


def test_feedback_updates_ab_and_rejects_bad_labels(split_client):
    client, arms = split_client
    before = client.get("/v1/ab").json()
    rgb = random_rgb(32, 32, seed=3)
    ids = {}
    for arm in ("A", "B"):
        reply = client.post(f"/v1/segment?arm={arm}", content=encode(rgb))
        ids[arm] = reply.headers["x-request-id"]
    truth = np.random.default_rng(4).integers(0, K, (32, 32)).astype(np.uint8)
    truth[:4] = 255  # unlabelled
    assert client.post("/v1/feedback?request_id=nope", content=label_bytes(truth)).status_code == 404
    assert client.post("/v1/feedback", content=label_bytes(truth)).status_code == 400
    wrong_size = client.post(f"/v1/feedback?request_id={ids['A']}", content=label_bytes(truth[:16]))
    assert wrong_size.status_code == 422 and "32×16" in wrong_size.json()["error"]
    out_of_range = truth.copy()
    out_of_range[5, 5] = 7
    reply = client.post(f"/v1/feedback?request_id={ids['A']}", content=label_bytes(out_of_range))
    assert reply.status_code == 422 and "[7]" in reply.json()["error"]
    colour = client.post(f"/v1/feedback?request_id={ids['A']}", content=encode(np.zeros((32, 32, 3), np.uint8)))
    assert colour.status_code == 422 and "mode RGB" in colour.json()["error"]
    for arm in ("A", "B"):
        reply = client.post(f"/v1/feedback?request_id={ids[arm]}", content=label_bytes(truth))
        assert reply.status_code == 200, reply.text
        inter, union = image_areas(arms["AB".index(arm)].predictor.predict(rgb), truth.astype(np.int64), K, 255)
        keep = union > 0
        assert reply.json()["arms"][arm] == pytest.approx(float(np.mean(inter[keep] / union[keep])))
    again = client.post(f"/v1/feedback?request_id={ids['A']}", content=label_bytes(truth))
    assert again.status_code == 409
    after = client.get("/v1/ab").json()
    for arm in ("A", "B"):
        assert after["arms"][arm]["feedback_images"] == before["arms"][arm]["feedback_images"] + 1
        assert after["arms"][arm]["requests"] >= before["arms"][arm]["requests"] + 1
        assert after["arms"][arm]["latency_ms_p95"] >= after["arms"][arm]["latency_ms_p50"] > 0
    assert after["difference"]["paired"] is False and after["difference"]["miou_b_minus_a"] is not None


def test_shadow_mode_pairs_both_arms(models):
    arms = make_arms(models)
    with TestClient(create_app(arms, ServeOptions(mode="shadow", resamples=200))) as client:
        wait_ready(client)
        rng = np.random.default_rng(5)
        for i in range(4):
            rgb = random_rgb(24, 24, seed=10 + i)
            reply = client.post("/v1/segment", content=encode(rgb))
            assert reply.headers["x-idrnet-arm"] == "A"
            truth = rng.integers(0, K, (24, 24)).astype(np.uint8)
            scored = client.post(f"/v1/feedback?request_id={reply.headers['x-request-id']}", content=label_bytes(truth))
            assert set(scored.json()["arms"]) == {"A", "B"}
        ab = client.get("/v1/ab").json()
    assert ab["mode"] == "shadow" and ab["arms"]["B"]["requests"] == 4 and ab["arms"]["B"]["feedback_images"] == 4
    assert ab["difference"]["paired"] is True and ab["difference"]["images"] == 4
    low, high = ab["difference"]["ci95"]
    assert low <= ab["difference"]["miou_b_minus_a"] <= high


def test_conditions_are_reported_apart_and_overall(models, tmp_path):
    arms = make_arms(models)
    log = tmp_path / "ab.jsonl"
    with TestClient(create_app(arms, ServeOptions(mode="shadow", resamples=200, ab_log=log))) as client:
        wait_ready(client)
        rng = np.random.default_rng(7)
        tags = ["night", "night", "night", "day", "day", None]
        for i, tag in enumerate(tags):
            rgb = random_rgb(24, 24, seed=30 + i)
            reply = client.post("/v1/segment", content=encode(rgb), headers={"X-Condition": tag} if tag else {})
            assert reply.status_code == 200, reply.text
            truth = rng.integers(0, K, (24, 24)).astype(np.uint8)
            assert client.post(f"/v1/feedback?request_id={reply.headers['x-request-id']}",
                               content=label_bytes(truth)).status_code == 200
        bad = client.post("/v1/segment", content=encode(random_rgb(8, 8)), headers={"X-Condition": "rain; drop table"})
        assert bad.status_code == 400 and "X-Condition" in bad.json()["error"]
        ab = client.get("/v1/ab").json()
    assert sorted(ab["conditions"]) == ["day", "night"]
    night, day = ab["conditions"]["night"], ab["conditions"]["day"]
    assert night["arms"]["A"]["requests"] == 3 and night["arms"]["B"]["feedback_images"] == 3
    assert day["arms"]["B"]["requests"] == 2 and day["difference"]["paired"] is True and day["difference"]["images"] == 2
    assert ab["arms"]["A"]["requests"] == 6 and ab["difference"]["images"] == 6
    # the per-condition figures are those of the condition's images alone, paired as overall
    pairs = [json.loads(line) for line in log.read_text().splitlines() if '"feedback"' in line]
    night_areas = [[_dense_areas(r["areas"][arm]) for arm in "AB"] for r in pairs if r.get("condition") == "night"]
    a_inter = sum(a[0][0] for a in night_areas)
    a_union = sum(a[0][1] for a in night_areas)
    assert night["arms"]["A"]["miou"] == pytest.approx(float(np.mean(a_inter[a_union > 0] / a_union[a_union > 0])))
    # a restarted server reads the conditions back from its A/B log
    resumed = ABLedger({"A": str(arms[0].source), "B": str(arms[1].source)}, K, 255, "shadow", 0.5, log=log, resamples=200)
    try:
        assert resumed.summary()["conditions"] == ab["conditions"]
    finally:
        resumed.close()


def _dense_areas(sparse):
    classes, inter, union = (np.asarray(v) for v in sparse)
    dense = np.zeros((2, K), np.int64)
    dense[0, classes], dense[1, classes] = inter, union
    return dense


def test_condition_tags_are_bounded():
    from idrnet.serving.ledger import MAX_CONDITIONS

    ledger = ABLedger({"A": "a"}, 3, 255, "single", 0.5)
    for i in range(MAX_CONDITIONS):
        ledger.check_condition(f"c{i}")
        ledger.record_request(f"r{i}", "A", np.zeros((2, 2), np.uint8), 1.0, 1.0, condition=f"c{i}")
    ledger.check_condition("c0")  # a known one is fine
    with pytest.raises(ValueError, match=f"already tracks {MAX_CONDITIONS}"):
        ledger.check_condition("one-more")
    for bad in ("", "a b", "x" * 65, "ünïcode", "../x"):
        with pytest.raises(ValueError, match="short name"):
            ledger.check_condition(bad)


def test_queue_full_answers_503_with_retry_after(models):
    arms = make_arms(models)[:1]
    release = threading.Event()
    slow = arms[0].predict

    def gated(images, confidence):
        release.wait(10)
        return slow(images, confidence)

    arms[0].predict = gated
    with TestClient(create_app(arms, ServeOptions(max_batch=1, max_queue=1, max_delay_ms=0))) as client:
        release.set()
        wait_ready(client)
        release.clear()
        png = encode(random_rgb(16, 16))
        replies = []
        threads = [threading.Thread(target=lambda: replies.append(client.post("/v1/segment", content=png))) for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.3)
        busy = [r for r in replies if r.status_code == 503]
        release.set()
        for t in threads:
            t.join(20)
        assert busy and busy[0].headers["retry-after"] == "1" and "busy" in busy[0].json()["error"]
        assert sum(r.status_code == 200 for r in replies) == 2
        assert client.post("/v1/segment", content=png).status_code == 200


def test_a_batch_out_of_memory_is_retried_image_by_image_and_only_an_image_too_large_alone_fails(models):
    """Several large images batched together on a GPU ran out of memory, and every request of the batch
    got "500 internal error: OutOfMemoryError": the batch is run again one image at a time, so those that fit
    alone are answered; one that does not fit alone gets 503 naming its size, counted as out_of_memory."""
    arms = make_arms(models)[:1]
    real = arms[0].predict
    sizes: list[int] = []
    failing = threading.Event()  # off while the server warms up, and for the reference answers

    def predict(images, confidence):
        if failing.is_set():
            sizes.append(len(images))
            if len(images) > 1 or images[0].shape[0] == 40:
                raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: "
                                   "you tried to allocate 21474836480 bytes. Error code 12 (Cannot allocate memory)")
        return real(images, confidence)

    arms[0].predict = predict
    with TestClient(create_app(arms, ServeOptions(max_batch=3, max_delay_ms=500))) as client:
        wait_ready(client)
        failing.set()
        images = [random_rgb(32, 32, seed=40 + i) for i in range(3)]
        replies = post_at_once(client, images)
        assert [replies[i].status_code for i in range(3)] == [200] * 3 and sizes[0] > 1 and sizes.count(1) >= 3
        failing.clear()
        for i in range(3):  # the answers are the images' own
            assert replies[i].content == client.post("/v1/segment", content=encode(images[i])).content
        failing.set()
        large = client.post("/v1/segment", content=encode(random_rgb(40, 40)))
        assert large.status_code == 503 and large.headers["retry-after"] == "5"
        assert "a 40x40 image does not fit in this server's memory (an allocation of 20.0 GiB failed)" in large.json()["error"]
        assert 'idrnet_errors_total{reason="out_of_memory"} 1' in client.get("/metrics").text


def test_micro_batcher_groups_same_sizes():
    calls = []

    def predict(images, confidence):
        calls.append([im.shape for im in images])
        if any(im.shape[0] == 13 for im in images):
            raise RuntimeError("boom")
        return [np.full(im.shape[:2], len(images), np.uint8) for im in images], None

    async def scenario():
        from concurrent.futures import ThreadPoolExecutor

        batcher = MicroBatcher(predict, ThreadPoolExecutor(1), max_batch=3, max_delay_s=0.2, max_queue=6)
        task = asyncio.create_task(batcher.run())
        small, large = np.zeros((8, 8, 3), np.uint8), np.zeros((9, 9, 3), np.uint8)
        futures = [batcher.submit(im) for im in (small, large, small, small, small, large)]
        with pytest.raises(QueueFull):
            batcher.submit(small)
        results = await asyncio.gather(*futures)
        bad = batcher.submit(np.zeros((13, 13, 3), np.uint8))
        with pytest.raises(RuntimeError, match="boom"):
            await bad
        ok = await batcher.submit(small)  # the loop survived the failing batch
        task.cancel()
        return results, ok

    results, ok = asyncio.run(scenario())
    assert calls[0] == [(8, 8, 3)] * 3 and calls[1] == [(9, 9, 3)] * 2 and calls[2] == [(8, 8, 3)]
    assert [r.batch_size for r in results] == [3, 2, 3, 3, 1, 2]
    assert ok.batch_size == 1


def test_batched_requests_equal_single_predictions(models):
    arms = make_arms(models)[:1]
    with TestClient(create_app(arms, ServeOptions(max_batch=4, max_delay_ms=300))) as client:
        wait_ready(client)
        images = [random_rgb(32, 32, seed=20 + i) for i in range(4)]
        replies = post_at_once(client, images)
    assert max(int(r.headers["x-batch-size"]) for r in replies.values()) > 1
    for i, reply in replies.items():
        labels = np.asarray(Image.open(io.BytesIO(reply.content)))
        agreement = (labels == arms[0].predictor.predict(images[i])).mean()
        assert agreement >= 0.999  # a larger batch may change the float rounding of near-ties


def test_label_png_16_bit_above_256_classes():
    labels = np.array([[0, 299], [256, 3]], dtype=np.int32)
    image = Image.open(io.BytesIO(label_png(labels, 300, [(0, 0, 0)] * 300)))
    assert image.mode.startswith("I") and np.asarray(image).tolist() == labels.tolist()


def test_ledger_log_resumes_and_refuses_another_experiment(tmp_path):
    log = tmp_path / "ab.jsonl"
    truth = np.array([[0, 1], [2, 255]])
    ledger = ABLedger({"A": "a.safetensors", "B": "b.safetensors"}, 3, 255, "split", 0.5, log=log)
    ledger.record_request("r1", "A", np.array([[0, 1], [1, 0]], np.uint8), 12.0, 8.0)
    ledger.record_request("r2", "B", np.array([[0, 1], [2, 0]], np.uint8), 20.0, 9.0)
    ledger.feedback("r1", truth)
    ledger.feedback("r2", truth)
    first = ledger.summary()
    ledger.close()
    with open(log, "a") as f:
        f.write('{"event": "requ')  # a server killed mid-line
    resumed = ABLedger({"A": "a.safetensors", "B": "b.safetensors"}, 3, 255, "split", 0.5, log=log)
    assert resumed.summary()["arms"] == first["arms"]
    with pytest.raises(ValueError, match="in use by another running server"):
        ABLedger({"A": "a.safetensors", "B": "b.safetensors"}, 3, 255, "split", 0.5, log=log)
    assert first["arms"]["B"]["miou"] == pytest.approx(1.0) and first["arms"]["A"]["miou"] == pytest.approx((1 + 0.5 + 0) / 3)
    resumed.close()
    with pytest.raises(ValueError, match="another experiment"):
        ABLedger({"A": "a.safetensors", "B": "c.safetensors"}, 3, 255, "split", 0.5, log=log)
    not_a_log = tmp_path / "model.yaml"
    not_a_log.write_text("model: 1\nother: 2\n")
    with pytest.raises(ValueError, match="not an A/B log"):
        ABLedger({"A": "a"}, 3, 255, "single", 0.5, log=not_a_log)
    assert not_a_log.read_text() == "model: 1\nother: 2\n"  # never appended to


def test_feedback_window_is_bounded():
    ledger = ABLedger({"A": "a"}, 3, 255, "single", 0.5, window=3)
    for i in range(5):
        ledger.record_request(f"r{i}", "A", np.zeros((4, 4), np.uint8), 1.0, 1.0)
    assert ledger.summary()["arms"]["A"]["requests"] == 5
    with pytest.raises(Exception, match="unknown request id"):
        ledger.prediction("r0")
    ledger.prediction("r4")


def test_serve_option_errors_name_the_flag():
    with pytest.raises(ValueError, match="--split"):
        ServeOptions(mode="split", split=1.5)
    with pytest.raises(ValueError, match="--max-batch"):
        ServeOptions(max_batch=0)


# -- the real `idrnet serve` process -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def start_server(args: list[str], port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "idrnet.cli.main", "serve", *args, "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"idrnet serve exited: {process.stdout.read()}")
        try:
            if http("GET", f"http://127.0.0.1:{port}/health/ready")[0] == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("idrnet serve never became ready")


def test_real_server_process_ab_and_graceful_stop(saved_models, tmp_path):
    a, b = saved_models
    log = tmp_path / "ab.jsonl"
    port = free_port()
    args = [str(a), "--model-b", str(b), "--split", "0.5", "--ab-log", str(log), "--threads", "1"]
    process = start_server(args, port)
    base = f"http://127.0.0.1:{port}"
    try:
        rgb = random_rgb(32, 48, seed=7)
        status, headers, body = http("POST", f"{base}/v1/segment", encode(rgb), {"X-Client-Id": "carol"})
        assert status == 200 and headers["X-IDRNet-Arm"] == assign_arm("carol", 0.5, None)
        labels = np.asarray(Image.open(io.BytesIO(body)))
        expected = Predictor(a if headers["X-IDRNet-Arm"] == "A" else b).predict(rgb)
        np.testing.assert_array_equal(labels, expected)
        status, _, reply = http("POST", f"{base}/v1/feedback?request_id={headers['X-Request-Id']}", label_bytes(expected))
        assert status == 200 and list(json.loads(reply)["arms"].values()) == [1.0]
        status, _, reply = http("POST", f"{base}/v1/segment", b"not an image")
        assert status == 415 and "supported format" in json.loads(reply)["error"]
        status, _, text = http("GET", f"{base}/metrics")
        assert status == 200 and b"idrnet_request_latency_seconds_bucket" in text
        ab = json.loads(http("GET", f"{base}/v1/ab")[2])
        # SIGTERM while a request is in flight: it is answered, then the server exits 0
        in_flight: list = []
        big = encode(random_rgb(1024, 1024, seed=8))
        sender = threading.Thread(target=lambda: in_flight.append(
            http("POST", f"{base}/v1/segment?arm=A", big, {"X-Client-Id": "late"})))
        sender.start()
        time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    sender.join(60)
    assert process.returncode == 0, output
    assert "stopped" in output and "Traceback" not in output
    assert in_flight and in_flight[0][0] == 200
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["start", "request", "feedback", "request"]
    ab["arms"]["A"]["requests"] += 1  # the request answered during the shutdown
    # a restarted server resumes the statistics from its A/B log
    process = start_server(args, port)
    try:
        resumed = json.loads(http("GET", f"{base}/v1/ab")[2])
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert {arm: {k: v for k, v in stats.items() if not k.startswith("latency")} for arm, stats in resumed["arms"].items()} \
        == {arm: {k: v for k, v in stats.items() if not k.startswith("latency")} for arm, stats in ab["arms"].items()}


def test_serve_cli_user_errors(saved_models, tmp_path):
    from idrnet.cli.main import main

    a, b = saved_models
    assert main(["serve", str(a), "--split", "0.3"]) == 2
    assert main(["serve", str(a), "--model-b", str(b)]) == 2
    assert main(["serve", str(tmp_path / "missing.safetensors")]) == 2
    assert main(["serve", str(tmp_path / "model.onnx"), "--backend", "eager"]) == 2
    assert main(["serve", str(a), "--ab-log", str(a)]) == 2  # the log must not be an input
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", str(a), "--port", str(taken.getsockname()[1])]) == 2
    other = build_model(tiny_config("fcn", num_classes=K + 1))
    other_path = save_checkpoint(other, tmp_path / "other.safetensors")
    assert main(["serve", str(a), "--model-b", str(other_path), "--shadow", "--port", str(free_port())]) == 2


def test_serving_one_model_as_both_arms_is_noted(saved_models, capsys, monkeypatch):
    """An A/B of one file against itself measures nothing; it was served with no word."""
    import uvicorn

    from idrnet.cli.main import main

    a, b = saved_models
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)  # never started: exits 2 after the set-up
    assert main(["serve", str(a), str(a), "--split", "0.5", "--port", str(free_port())]) == 2
    assert "idrnet serve: warning: models A and B have the same weights" in capsys.readouterr().err
    assert main(["serve", str(a), str(b), "--split", "0.5", "--port", str(free_port())]) == 2
    assert "same weights" not in capsys.readouterr().err


def test_an_onnx_arm_is_served_by_onnx_runtime_by_default(saved_models, tmp_path, capsys, monkeypatch):
    """`idrnet serve model.onnx` (and an .onnx arm B) failed: the default backend became eager for every
    arm, and eager cannot run an exported graph."""
    import uvicorn

    import idrnet
    from idrnet.cli.main import main

    from idrnet.deploy.runtime import BACKEND_ENV

    monkeypatch.delenv(BACKEND_ENV, raising=False)  # as a user runs it: no backend chosen anywhere
    a, _ = saved_models
    graph = idrnet.export_onnx(idrnet.create_model(str(a)), tmp_path / "a.onnx", (32, 32))
    seen = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.append(self.config.app))  # set up, never started
    main(["serve", str(graph), "--port", str(free_port())])
    main(["serve", str(a), str(graph), "--split", "0.5", "--port", str(free_port())])
    err = capsys.readouterr().err
    assert "is an exported model" not in err and len(seen) == 2, err


def test_docs_python_client_runs_against_a_server(saved_models, tmp_path, monkeypatch, capsys):
    """The Python clients of docs/serving.md (Hugging Face's InferenceClient, then ours), executed as
    written (only the port differs)."""
    import re

    from huggingface_hub import constants

    text = (Path(__file__).parents[1] / "docs" / "serving.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2 and "InferenceClient" in blocks[0]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the client refuses even 127.0.0.1 offline
    port = free_port()
    process = start_server([str(saved_models[0])], port)
    rgb = random_rgb(40, 40, seed=9)
    (tmp_path / "image.png").write_bytes(encode(rgb))
    (tmp_path / "image_truth.png").write_bytes(label_bytes(np.zeros((40, 40), np.uint8)))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "street.jpg").write_bytes(encode(random_rgb(40, 56, seed=3)))
    try:
        hub_client: dict = {}
        exec(compile(blocks[0].replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}"), "serving.md", "exec"),
             hub_client)
        exec(compile(blocks[1].replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}"), "serving.md", "exec"), {})
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    printed = capsys.readouterr().out
    assert printed.startswith("A {'request_id'") and "'labelled_pixels': 1600" in printed
    assert np.asarray(Image.open(tmp_path / "image_labels.png")).shape == (40, 40)
    assert hub_client["segments"] and all(s.mask.size == (56, 40) and s.label for s in hub_client["segments"])


# ONNX Runtime serves in test_int8_arm_is_calibrated_on_the_given_images (and agrees with eager in
# test_precision); each backend here costs an export or a compilation.
@pytest.mark.parametrize("backend", ["compile", "openvino"])
def test_backends_agree_with_eager(saved_models, backend):
    from idrnet.serving.arm import load_arm

    rgb = random_rgb(48, 64, seed=11)
    expected = Predictor(saved_models[1]).predict(rgb)
    arm = load_arm("A", str(saved_models[1]), backend=backend)
    labels, _ = arm.predict([rgb, rgb], False)  # one shape: the compile backend compiles once
    assert arm.describe()["backend"] == backend and arm.describe()["precision"] == "fp32"
    assert all((l == expected).mean() >= 0.999 for l in labels)


def test_int8_arm_is_calibrated_on_the_given_images(saved_models, tmp_path):
    from idrnet.serving.arm import load_arm

    folder = tmp_path / "calibration"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(random_rgb(48, 64, seed=20 + i)).save(folder / f"{i}.png")
    rgb = random_rgb(48, 64, seed=11)
    expected = Predictor(saved_models[1]).predict(rgb)
    arm = load_arm("A", str(saved_models[1]), backend="onnxruntime", precision="int8", calibration=str(folder))
    labels, _ = arm.predict([rgb], False)
    assert arm.describe()["precision"] == "int8" and (labels[0] == expected).mean() >= 0.9


def test_missing_serve_extra_is_one_line(monkeypatch, capsys, saved_models):
    from idrnet.cli.main import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert main(["serve", str(saved_models[0])]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "pip install 'idrnet[serve]'" in error
