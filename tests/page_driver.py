"""Drive the page of `idrnet serve` in headless Chromium (Playwright): drop an image, wait for every arm's
overlay, send the ground truth, wait for the dashboard to count it, and take a screenshot.

Used by tests/test_serve_page.py, and by hand for the screenshot in docs/serving.md:

  python tests/page_driver.py --url http://127.0.0.1:8000/ --image IMAGE --label LABEL_PNG --out docs/images/serving_page.png
"""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path

# Chromium as the project's machines run it: no sandbox as root, and no background connections (the
# closed network refuses them, and they slow every start).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """Debian's Chromium, or ``IDRNET_CHROMIUM``."""
    return os.environ.get("IDRNET_CHROMIUM", "/usr/bin/chromium")


def drop_file(page, selector: str, data: bytes, name: str, mime: str) -> None:
    """Dispatch a real ``drop`` event carrying ``data`` as a file on ``selector``."""
    page.evaluate(
        """([selector, b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: mime}));
            document.querySelector(selector).dispatchEvent(
                new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        [selector, base64.b64encode(data).decode("ascii"), name, mime],
    )


def table_text(page) -> str:
    return page.inner_text("#ab-table tbody")


def drive(url: str, image: bytes, label: bytes, screenshot: Path, width: int = 1280,
          condition: str | None = None) -> dict[str, object]:
    """Run the page's workflow (the image sent with ``condition`` typed in the page's condition field);
    returns what it saw (arms, legend rows, table before/after feedback, the per-condition table)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(url)
            page.wait_for_selector("#overlay-A", state="attached", timeout=30_000)
            arms = page.eval_on_selector_all("img[id^=overlay-]", "els => els.map(e => e.id.slice(8))")
            page.wait_for_function("document.querySelector('#ab-table tbody').children.length > 0", timeout=30_000)
            before = table_text(page)
            if condition:
                page.fill("#condition", condition)
            drop_file(page, "#dropzone", image, "street.png", "image/png")
            page.wait_for_function(
                "ids => ids.every(a => { const i = document.getElementById('overlay-' + a);"
                " return i.complete && i.naturalWidth > 0; })", arg=arms, timeout=60_000)
            legends = {arm: page.eval_on_selector_all(f"#legend-{arm} > div", "els => els.length") for arm in arms}
            page.set_input_files("#feedback-input", files=[{"name": "truth.png", "mimeType": "image/png", "buffer": label}])
            page.wait_for_function("before => document.querySelector('#ab-table tbody').innerText !== before",
                                   arg=before, timeout=30_000)
            page.wait_for_function("document.getElementById('feedback-status').innerText.includes('mIoU')", timeout=30_000)
            after = table_text(page)
            feedback = page.inner_text("#feedback-status")
            difference = page.inner_text("#difference")
            if condition:
                page.wait_for_function("c => document.querySelector('#condition-table tbody').innerText.includes(c)",
                                       arg=condition, timeout=30_000)
            conditions = page.inner_text("#condition-table tbody") if condition else ""
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"arms": arms, "legends": legends, "before": before, "after": after, "feedback": feedback,
            "difference": difference, "conditions": conditions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--image", required=True, type=Path)
    parser.add_argument("--label", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    seen = drive(args.url, args.image.read_bytes(), args.label.read_bytes(), args.out, args.width)
    print(seen)


if __name__ == "__main__":
    main()
