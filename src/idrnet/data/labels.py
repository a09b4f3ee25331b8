"""Reading label maps and mapping raw label values to training ids, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image


class BadSampleError(ValueError):
    """An image or label file is unreadable or holds values it must not; the message names it."""


# PIL modes a label PNG may have: palette indices, 8-bit or 16/32-bit integers.
LABEL_MODES = ("P", "L", "I;16", "I;16B", "I;16L", "I")


def read_label(path: Path) -> np.ndarray:
    """Raw label values (H×W int32) of a PNG (palette indices for palette PNGs) or COCO-Stuff ``.mat``."""
    if path.suffix == ".mat":
        import scipy.io

        try:
            return np.asarray(scipy.io.loadmat(str(path))["S"], dtype=np.int32)
        except Exception as err:  # noqa: BLE001
            raise BadSampleError(f"{path}: cannot read COCO-Stuff .mat label (key 'S'): {err}") from err
    try:
        with Image.open(path) as img:
            if img.mode not in LABEL_MODES:
                raise BadSampleError(
                    f"{path}: label image has mode {img.mode}; expected single-channel class indices "
                    f"({', '.join(LABEL_MODES)}); colour-coded labels must be converted to indices"
                )
            img.load()
            return np.asarray(img, dtype=np.int32)
    except BadSampleError:
        raise
    except Exception as err:  # noqa: BLE001
        raise BadSampleError(f"{path}: unreadable or truncated label file: {err}") from err


_JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


def _jpeg_has_end_marker(path: Path) -> bool:
    """Whether a JPEG file ends with its end-of-image marker (padding after it allowed).

    OpenCV decodes a truncated JPEG without an error (the missing part comes out grey), so a cut file
    is found by its missing marker; files failing this test are decoded fully by PIL to be sure.
    """
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 64))
        tail = f.read().rstrip(b"\x00\r\n \t")
    return tail.endswith(b"\xff\xd9")


def verify_image_file(path: Path) -> None:
    """Decode ``path`` fully with PIL (no truncated-image tolerance); :class:`BadSampleError` if it fails."""
    try:
        with Image.open(path) as img:
            img.load()
    except Exception as err:  # noqa: BLE001 - any decoder failure means the file is bad
        raise BadSampleError(f"{path}: unreadable or truncated image file: {err}") from err


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 H×W×3 of an image file (grayscale and RGBA are converted). Truncated files are an
    error naming the file, never silently padded."""
    import cv2

    if not path.is_file():
        raise BadSampleError(f"{path}: image file does not exist")
    suffix = path.suffix.lower()
    if suffix in _JPEG_SUFFIXES:
        if not _jpeg_has_end_marker(path):
            verify_image_file(path)
    elif suffix != ".png":
        verify_image_file(path)  # BMP/TIFF/WebP: OpenCV's tolerance of damage varies by codec
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # OpenCV refuses truncated PNGs itself
    if data is None:
        if suffix not in _JPEG_SUFFIXES and suffix != ".png":
            raise BadSampleError(f"{path}: OpenCV cannot decode this image")
        verify_image_file(path)
        raise BadSampleError(f"{path}: unreadable or truncated image file")
    if data.dtype != np.uint8:
        data = (data / max(1, int(data.max())) * 255).astype(np.uint8) if data.dtype == np.uint16 else data.astype(np.uint8)
    if data.ndim == 2:
        return cv2.cvtColor(data, cv2.COLOR_GRAY2RGB)
    if data.shape[2] == 4:
        return cv2.cvtColor(data, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


class LabelMap:
    """Raw value → training id: identity unless mapped; ``ignore`` values become ``ignore_index``.

    After mapping, any value outside [0, num_classes) other than ``ignore_index`` is an error.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = 255,
        mapping: Mapping[int, int] | None = None,
        ignore: tuple[int, ...] = (),
        shift: int = 0,
    ) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mapping = dict(mapping or {})
        self.ignore = tuple(ignore)
        self.shift = shift  # raw value v → v − shift (ADE20K, COCO-Stuff-10k, PASCAL-Context-59: 1)

    def __call__(self, raw: np.ndarray, path: Path | None = None) -> np.ndarray:
        """Mapped labels (int32); raises :class:`BadSampleError` for values that map to no class."""
        size = max(256, int(raw.max()) + 1) if raw.size else 256
        table = np.arange(size, dtype=np.int64) - self.shift
        for src, dst in self.mapping.items():
            if 0 <= src < size:
                table[src] = dst
        for src in self.ignore:
            if 0 <= src < size:
                table[src] = self.ignore_index
        if raw.min(initial=0) < 0:
            raise BadSampleError(f"{path}: negative label values {sorted(set(raw[raw < 0].tolist()))[:10]}")
        out = table[raw]
        bad = ((out < 0) | (out >= self.num_classes)) & (out != self.ignore_index)
        if bad.any():
            values = sorted(set(raw[bad].tolist()))
            raise BadSampleError(
                f"{path}: label values {values[:10]}{' …' if len(values) > 10 else ''} map to no class "
                f"(expected classes 0..{self.num_classes - 1} or ignore {self.ignore_index} after mapping)"
            )
        return out.astype(np.int32)
