"""Hardening II, the server: decompression bombs in every format, stalled and vanishing clients, the A/B
log after a kill, what public answers reveal, and model files that try to name what idrnet calls."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from idrnet.data.image_header import header_size
from idrnet.errors import InputError

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from idrnet.serving.app import create_app  # noqa: E402
from idrnet.serving.ledger import ABLedger  # noqa: E402
from idrnet.serving.options import ServeOptions  # noqa: E402

from crafted_images import png_bomb, patch_bmp, patch_jpeg, patch_tiff, patch_webp_lossless, patch_webp_lossy  # noqa: E402
from test_serve import encode, free_port, http, make_arms, random_rgb, start_server, wait_ready  # noqa: E402

HUGE = 15000  # 225 Mpx: above PIL's own refusal (2 × 89.5 Mpx) as well as our limit


SMALL = random_rgb(9, 13)
FORMATS = {  # name: (small encoded image, patcher announcing another size)
    "JPEG": (encode(SMALL, "JPEG"), patch_jpeg),
    "WebP-lossless": (encode(SMALL, "WEBP", lossless=True), patch_webp_lossless),
    "WebP-lossy": (encode(SMALL, "WEBP", quality=80), patch_webp_lossy),
    "BMP": (encode(SMALL, "BMP"), patch_bmp),
    "TIFF": (encode(SMALL, "TIFF"), patch_tiff),
}


def pil_size(data: bytes) -> tuple[int, int]:
    """PIL's reading of the header, without its decompression-bomb refusal."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit


@pytest.mark.parametrize("mode,fmt,options", [
    ("L", "PNG", {}), ("RGB", "PNG", {}), ("RGBA", "PNG", {}), ("P", "PNG", {}), ("I;16", "PNG", {}),
    ("RGB", "JPEG", {}), ("RGB", "JPEG", {"progressive": True}), ("L", "JPEG", {}), ("CMYK", "JPEG", {}),
    ("RGB", "WEBP", {"lossless": True}), ("RGBA", "WEBP", {"lossless": True}), ("RGB", "WEBP", {}), ("RGBA", "WEBP", {}),
    ("RGB", "BMP", {}), ("L", "BMP", {}), ("P", "BMP", {}), ("RGB", "TIFF", {}), ("L", "TIFF", {}),
    ("RGB", "TIFF", {"compression": "tiff_lzw"}),
])
def test_header_size_equals_pils(mode, fmt, options):
    from idrnet.data.labels import sniff_image_format

    image = Image.new(mode, (37, 23))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    data = buffer.getvalue()
    assert header_size(data, sniff_image_format(data)) == pil_size(data) == (37, 23)


def test_cut_or_malformed_headers_give_no_size():
    png = encode(SMALL, "PNG")
    assert header_size(png[:20], "PNG") is None
    jpeg = FORMATS["JPEG"][0]
    assert header_size(jpeg[:30], "JPEG") is None
    assert header_size(b"RIFF\0\0\0\0WEBPVP8X", "WebP") is None
    assert header_size(b"BM\0\0", "BMP") is None
    assert header_size(b"II*\0\xff\xff\xff\xff", "TIFF") is None


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_patched_headers_announce_the_huge_size(name):
    small, patch = FORMATS[name]
    data = patch(small, HUGE, HUGE)
    kind = "WebP" if name.startswith("WebP") else name
    assert header_size(data, kind) == pil_size(data) == (HUGE, HUGE)


@pytest.fixture(scope="module")
def client(models):
    app = create_app(make_arms(models), ServeOptions(mode="split", split=0.5, max_pixels=1_000_000))
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def test_png_decompression_bomb_is_refused_from_its_header(client):
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < 600_000  # a few hundred KB announcing 400 Mpx
    with pytest.raises(Image.DecompressionBombError):  # why a PIL-based probe could not tell its size
        Image.open(io.BytesIO(bomb))
    reply = client.post("/v1/segment", content=bomb)
    assert reply.status_code == 413 and "20000×20000" in reply.json()["error"] and "--max-pixels" in reply.json()["error"]
    reply = client.post("/v1/feedback?request_id=x", content=bomb)
    assert reply.status_code in (404, 413)  # an unknown id is answered before the body is read
    assert client.get("/health/ready").status_code == 200


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_is_limited_from_its_header(client, name):
    small, patch = FORMATS[name]
    reply = client.post("/v1/segment", content=patch(small, HUGE, HUGE))
    assert reply.status_code == 413, reply.text
    assert f"{HUGE}×{HUGE}" in reply.json()["error"]
    assert client.post("/v1/segment", content=small).status_code == 200  # the same format within the limit


def test_a_one_pixel_strip_is_segmented_at_a_benchmark_test_scale(models):
    """With ADE20K's test resize (fit in 2048×512) a 1×5000 picture (20 KB) rounded to an empty image:
    an OpenCV assertion and HTTP 500."""
    from idrnet import Predictor
    from idrnet.serving.arm import Arm

    app = create_app([Arm("A", "fcn-tiny", Predictor(models[0], test_scale=(2048, 512)), "eager")],
                     ServeOptions(mode="single"))
    with TestClient(app) as c:
        wait_ready(c)
        for shape in ((1, 5000, 3), (5000, 1, 3)):
            reply = c.post("/v1/segment?format=png", content=encode(np.zeros(shape, np.uint8)))
            assert reply.status_code == 200, reply.text
            assert Image.open(io.BytesIO(reply.content)).size == shape[1::-1]


def test_a_phone_photo_stored_sideways_is_answered_upright_as_the_page_shows_it(client):
    """A JPEG stored 13 wide and 9 high with EXIF orientation 6 is a 9-wide, 13-high picture in the browser:
    the label and the overlay come back at that size (they came back sideways, 13 × 9)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(SMALL).save(buffer, format="JPEG", exif=exif.tobytes())
    for fmt in ("png", "overlay"):
        reply = client.post(f"/v1/segment?format={fmt}", content=buffer.getvalue())
        assert reply.status_code == 200, reply.text
        assert Image.open(io.BytesIO(reply.content)).size == (9, 13)


def test_header_without_a_size_is_refused_not_decoded(client):
    cut = encode(SMALL, "PNG")[:20]
    reply = client.post("/v1/segment", content=cut)
    assert reply.status_code == 400 and "header" in reply.json()["error"]


def test_bad_format_and_arm_are_counted_docs_are_off_and_feedback_warns_nothing(client):
    assert client.post("/v1/segment?format=gif", content=encode(SMALL)).status_code == 400
    assert client.post("/v1/segment?arm=C", content=encode(SMALL)).status_code == 400
    text = client.get("/metrics").text
    assert 'idrnet_errors_total{reason="bad_format"} 1' in text and 'idrnet_errors_total{reason="bad_arm"} 1' in text
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    reply = client.post("/v1/segment", content=encode(SMALL))
    target = np.zeros(SMALL.shape[:2], np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch's non-writable-array warning would fail here
        feedback = client.post(f"/v1/feedback?request_id={reply.headers['x-request-id']}", content=encode(target))
    assert feedback.status_code == 200, feedback.text


def test_public_answers_name_models_not_paths(models, tmp_path):
    arms = make_arms(models)
    arms[0].source, arms[1].source = "/srv/secret/a/final.safetensors", "/srv/secret/b/final.safetensors"
    with TestClient(create_app(arms, ServeOptions(mode="shadow"))) as c:
        wait_ready(c)
        shown = json.dumps(c.get("/v1/models").json()) + json.dumps(c.get("/v1/ab").json())
        assert "/srv" not in shown and "a/final.safetensors" in shown and "b/final.safetensors" in shown
    arms = make_arms(models)
    arms[0].source = "/srv/secret/a/final.safetensors"
    with TestClient(create_app(arms, ServeOptions(mode="shadow", expose_paths=True))) as c:
        wait_ready(c)
        assert c.get("/v1/models").json()["arms"]["A"]["model"] == "/srv/secret/a/final.safetensors"


# ------------------------------------------------------------------------------------ the A/B log
def _ledger(log):
    return ABLedger({"A": "a.safetensors", "B": "b.safetensors"}, 3, 255, "split", 0.5, log=log)


def _requests(ledger, n, start=0):
    for i in range(start, start + n):
        ledger.record_request(f"r{i}", "AB"[i % 2], np.zeros((4, 4), np.uint8), 1.0, 1.0)


def test_ab_log_with_a_cut_last_line_survives_any_number_of_restarts(tmp_path, caplog):
    log = tmp_path / "ab.jsonl"
    ledger = _ledger(log)
    _requests(ledger, 4)
    ledger.close()
    whole = log.read_bytes()
    log.write_bytes(whole + b'{"event": "request", "id": "r4", "ar')  # a server killed mid-write
    with caplog.at_level(logging.WARNING, logger="idrnet.serve"):
        for restart in range(3):
            ledger = _ledger(log)
            assert ledger.summary()["arms"]["A"]["requests"] + ledger.summary()["arms"]["B"]["requests"] == 4 + restart
            _requests(ledger, 1, 10 + restart)
            ledger.close()
    assert "removed 36 bytes" in caplog.text
    lines = log.read_text().splitlines()
    assert all(json.loads(line)["event"] in ("start", "request") for line in lines)
    assert sum(json.loads(line)["event"] == "start" for line in lines) == 4


def test_ab_log_whole_record_without_line_break_is_kept(tmp_path):
    log = tmp_path / "ab.jsonl"
    ledger = _ledger(log)
    _requests(ledger, 2)
    ledger.close()
    log.write_bytes(log.read_bytes().rstrip(b"\n"))
    ledger = _ledger(log)
    assert ledger.repaired_bytes == 0 and ledger.summary()["arms"]["A"]["requests"] == 1
    ledger.close()
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_a_file_that_is_not_an_ab_log_is_refused_and_left_as_it_is(tmp_path):
    """--ab-log photo.png by mistake used to cut the picture at its last newline byte (the repair of a
    log's unfinished last line ran before the file was known to be a log)."""
    picture = tmp_path / "photo.png"
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())
    notes = tmp_path / "notes.txt"
    notes.write_text("first line\nno line break at the end")
    for path in (picture, notes):
        before = path.read_bytes()
        with pytest.raises(InputError, match="is not an A/B log"):
            _ledger(path)
        assert path.read_bytes() == before
    # a log whose first record was cut (the server killed while writing it) is still repaired
    log = tmp_path / "ab.jsonl"
    _ledger(log).close()
    log.write_bytes(log.read_bytes()[:30])
    ledger = _ledger(log)
    assert ledger.repaired_bytes == 30
    ledger.close()


def test_ab_log_damaged_by_an_earlier_version_is_read(tmp_path, caplog):
    log = tmp_path / "ab.jsonl"
    ledger = _ledger(log)
    _requests(ledger, 2)
    ledger.close()
    lines = log.read_text().splitlines()
    start = lines[0]
    # what the old restart wrote: its start record on the cut line of the killed server
    log.write_text("\n".join(lines) + '\n{"event": "request", "id": "r9", "ar' + start + "\n")
    with caplog.at_level(logging.WARNING, logger="idrnet.serve"):
        ledger = _ledger(log)
    assert ledger.summary()["arms"]["A"]["requests"] == 1 and "cut record" in caplog.text
    ledger.close()


# ------------------------------------------------------------------------------ model files
def test_model_metadata_cannot_name_a_library_function(tmp_path):
    pytest.importorskip("segmentation_models_pytorch")
    from safetensors.torch import load_file, save_file

    from idrnet import create_model, save_checkpoint
    from idrnet.config import ConfigError
    from idrnet.models.checkpoint import EXTERNAL_METADATA_KEY, read_metadata

    from idrnet.dropin import SMPModelConfig, build_external

    config = SMPModelConfig(num_classes=3, arch="Unet", encoder_name="resnet18", idrnet=False)
    path = save_checkpoint(build_external(config), tmp_path / "unet.safetensors")
    metadata, tensors = read_metadata(path), load_file(str(path))
    record = json.loads(metadata[EXTERNAL_METADATA_KEY])

    def crafted(name: str, **config) -> str:
        changed = {**record, "config": {**record["config"], **config}}
        target = tmp_path / name
        save_file(tensors, str(target), metadata={**metadata, EXTERNAL_METADATA_KEY: json.dumps(changed)})
        return str(target)

    called = []
    import segmentation_models_pytorch as smp

    original = smp.from_pretrained
    smp.from_pretrained = lambda *a, **k: called.append((a, k))
    try:
        with pytest.raises(ConfigError, match="model.arch: 'from_pretrained' is not an architecture"):
            create_model(crafted("arch.safetensors", arch="from_pretrained"))
    finally:
        smp.from_pretrained = original
    assert not called
    with pytest.raises(ConfigError, match="model.options.post_process: not an option"):
        create_model(crafted("options.safetensors", options={"post_process": "eval"}))
    with pytest.raises(ConfigError, match=r"model.options.aux_params.activation: 'builtins.eval' is not one of"):
        create_model(crafted("aux.safetensors", options={"aux_params": {"classes": 2, "activation": "builtins.eval"}}))
    with pytest.raises(ConfigError, match="model.options.aux_params.hook: not one of SMP's aux_params"):
        create_model(crafted("aux2.safetensors", options={"aux_params": {"hook": 1}}))
    with pytest.raises(ConfigError, match="model.encoder_name: 'tu-hf-hub:x/y'"):
        create_model(crafted("encoder.safetensors", encoder_name="tu-hf-hub:x/y"))
    # a pretrained-weight name in a file is dropped: the file holds the weights, and loading downloads nothing
    model = create_model(crafted("weights.safetensors", encoder_weights="imagenet"))
    assert model.external.encoder_weights is None


# --------------------------------------------------------------------------- the real server
def _metric(port: int, reason: str) -> int:
    text = http("GET", f"http://127.0.0.1:{port}/metrics")[2].decode()
    found = [line for line in text.splitlines() if line.startswith(f'idrnet_errors_total{{reason="{reason}"}}')]
    return int(found[0].split()[-1]) if found else 0


def test_stalled_and_vanishing_clients(saved_models):
    a, _ = saved_models
    port = free_port()
    process = start_server([str(a), "--header-timeout", "1", "--body-timeout", "2"], port)
    try:
        # headers and 10 bytes of a 1000-byte body, then nothing: 408 after the body deadline, connection closed
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"0123456789")
            started, answer = time.monotonic(), b""
            while chunk := s.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408") and b"--body-timeout" in answer
            assert time.monotonic() - started < 15
        # half a request head, then nothing: closed after the header deadline without an answer
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            assert s.recv(65536) == b""
            assert time.monotonic() - started < 15
        # a client that gives up mid-body: counted as a disconnect, not an internal error
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"0123456789")
            time.sleep(0.3)
        for _ in range(50):
            if _metric(port, "client_disconnect"):
                break
            time.sleep(0.1)
        assert _metric(port, "client_disconnect") == 1 and _metric(port, "internal") == 0
        assert _metric(port, "body_timeout") == 1
        status, _, body = http("POST", f"http://127.0.0.1:{port}/v1/segment", encode(SMALL))
        assert status == 200  # the server is still serving
        described = http("GET", f"http://127.0.0.1:{port}/v1/models")[2].decode()
        assert str(a.parent) not in described and a.name in described
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0]
    assert "Traceback" not in output and "internal error" not in output, output
