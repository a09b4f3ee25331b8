"""The page of `idrnet serve` in a real headless browser (Debian's Chromium, driven by Playwright)."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from page_driver import chromium_path, drive
from test_serve import K, free_port, start_server

pytest.importorskip("fastapi")
pytest.importorskip("playwright")


def test_page_drop_image_overlays_and_dashboard(saved_models, tmp_path):
    if not os.path.exists(chromium_path()):
        pytest.fail(f"no Chromium at {chromium_path()}: run scripts/install_browser.sh (the test command does)")
    a, b = saved_models
    port = free_port()
    process = start_server([str(a), "--model-b", str(b), "--split", "0.5"], port)
    rgb = (np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)
    truth = np.random.default_rng(1).integers(0, K, (96, 128)).astype(np.uint8)
    image, label = io.BytesIO(), io.BytesIO()
    Image.fromarray(rgb).save(image, format="PNG")
    Image.fromarray(truth).save(label, format="PNG")
    shot = Path(os.environ.get("IDRNET_PAGE_SCREENSHOT", tmp_path / "page.png"))
    try:
        seen = drive(f"http://127.0.0.1:{port}/", image.getvalue(), label.getvalue(), shot, condition="night")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert seen["arms"] == ["A", "B"]
    assert all(rows >= 1 for rows in seen["legends"].values()), seen["legends"]
    rows_before = [line.split("\t") for line in seen["before"].splitlines()]
    rows_after = [line.split("\t") for line in seen["after"].splitlines()]
    assert [r[3] for r in rows_before] == ["0", "0"] and [r[3] for r in rows_after] == ["1", "1"]  # feedback images
    assert [int(r[2]) for r in rows_after] == [1, 1]  # one request per arm
    assert "A: image mIoU" in seen["feedback"] and "B: image mIoU" in seen["feedback"]
    assert "B − A" in seen["difference"]
    night = [line.split("\t") for line in seen["conditions"].splitlines()]
    assert night[0][:4] == ["night", "A", "1", "1"] and night[1][1:4] == ["B", "1", "1"], night
    assert shot.stat().st_size > 10_000
