"""Request and response bodies: images in (any format and mode we read), label PNGs, Hugging Face style
JSON and overlay JPEGs out; every refusal is an :class:`HTTPProblem` naming what was wrong."""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Sequence

import numpy as np


class HTTPProblem(Exception):
    """An error answered as ``{"error": message}`` with ``status`` (and extra headers)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _check_pixels(data: bytes, kind: str, max_pixels: int, what: str) -> None:
    """413 before decoding an image whose header announces more than ``max_pixels`` pixels, 400 when the
    header gives no size: the limit is read from the header itself, never from a decoder."""
    from ..data.image_header import TooManyPixelsError, check_pixel_limit

    try:
        check_pixel_limit(data, kind, max_pixels, what, "--max-pixels")
    except TooManyPixelsError as err:
        raise HTTPProblem(413, str(err)) from err
    except ValueError as err:
        raise HTTPProblem(400, str(err)) from err


def _quiet_opencv() -> None:
    """Damaged uploads are answered with 400; OpenCV's own warnings about them would only flood the log."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def decode_request_image(data: bytes, max_pixels: int, what: str = "the request body") -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` of a request body; 400 (empty, corrupt), 413 (too many pixels), 415 (not an image)."""
    from ..data.labels import IMAGE_FORMATS, BadSampleError, decode_image, sniff_image_format

    if not data:
        raise HTTPProblem(400, f"{what} is empty: send the image's bytes as the body, or as the multipart field 'image'")
    _quiet_opencv()
    kind = sniff_image_format(data)
    if kind is None:
        raise HTTPProblem(415, f"{what} is not an image of a supported format ({', '.join(IMAGE_FORMATS)})")
    _check_pixels(data, kind, max_pixels, what)
    try:
        return decode_image(data, what)
    except BadSampleError as err:
        raise HTTPProblem(400, str(err)) from err


def decode_feedback_label(data: bytes, max_pixels: int) -> np.ndarray:
    """Class indices ``(H, W)`` int32 of a ground-truth label PNG sent as feedback."""
    from ..data.labels import BadSampleError, decode_label

    what = "the ground-truth label"
    if not data:
        raise HTTPProblem(400, f"{what} is empty: send a label PNG (class indices) as the body")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise HTTPProblem(415, f"{what} must be a PNG of class indices (8-bit, palette or 16-bit)")
    _check_pixels(data, "PNG", max_pixels, what)
    try:
        return decode_label(data, what)
    except BadSampleError as err:
        raise HTTPProblem(422 if "mode" in str(err) else 400, str(err)) from err


def label_png(labels: np.ndarray, num_classes: int, palette: Sequence[Sequence[int]]) -> bytes:
    """A label PNG: 8-bit palette image (values = class indices, colours = the palette), 16-bit
    grayscale for models of more than 256 classes."""
    from ..evaluation.evaluator import label_image

    buffer = io.BytesIO()
    label_image(labels, palette, sixteen_bit=num_classes > 256).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def overlay_jpeg(rgb: np.ndarray, labels: np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int,
                 alpha: float = 0.5, quality: int = 90) -> bytes:
    """The prediction blended over the image, as JPEG bytes at the image's size."""
    import cv2

    from ..visualization import overlay

    picture = overlay(rgb, labels, palette, alpha, ignore_index) if labels.max(initial=0) < 256 else rgb
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode the overlay")
    return encoded.tobytes()


def class_areas(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Fraction of the image each predicted class covers (classes present only)."""
    counts = np.bincount(labels.ravel().astype(np.int64), minlength=num_classes)
    total = max(1, labels.size)
    return {int(k): float(counts[k]) / total for k in np.flatnonzero(counts)}


def class_areas_header(areas: dict[int, float]) -> str:
    """``X-Class-Areas``: ``{"class index": fraction}`` as ASCII JSON (a header value)."""
    return json.dumps({str(k): round(v, 5) for k, v in areas.items()}, separators=(",", ":"))


def segments_json(labels: np.ndarray, confidence: np.ndarray | None, classes: Sequence[str]) -> list[dict[str, Any]]:
    """Hugging Face's image-segmentation answer: one ``{label, score, mask}`` per class present, the mask a
    base64 PNG (255 inside, 0 outside) at the image's size; plus ``class_id`` and ``area`` (fraction).
    ``score`` is the class's mean top probability over its pixels."""
    from PIL import Image

    k = len(classes)
    flat = labels.ravel().astype(np.int64)
    counts = np.bincount(flat, minlength=k)
    sums = np.bincount(flat, weights=confidence.ravel(), minlength=k) if confidence is not None else None
    segments = []
    for c in np.flatnonzero(counts):  # one PNG per class present: an encoding loop, not a pixel loop
        buffer = io.BytesIO()
        Image.fromarray(((labels == c) * 255).astype(np.uint8), mode="L").save(buffer, format="PNG", compress_level=1)
        score = float(sums[c] / counts[c]) if sums is not None else None
        segments.append({"label": classes[c] if c < k else str(c), "score": score,
                         "mask": base64.b64encode(buffer.getvalue()).decode("ascii"),
                         "class_id": int(c), "area": float(counts[c]) / max(1, labels.size)})
    return segments
