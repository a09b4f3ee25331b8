"""Reading label maps and mapping raw label values to training ids, with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from ..errors import InputError
from .description import IGNORE_INDEX


class BadSampleError(InputError):
    """An image or label file is unreadable or holds values it must not; the message names it."""


# PIL modes a label PNG may have: palette indices, 8-bit or 16/32-bit integers.
LABEL_MODES = ("P", "L", "I;16", "I;16B", "I;16L", "I")


def read_label(path: Path, colours: bool = False) -> np.ndarray:
    """Raw label values (H×W int32) of a PNG (palette indices for palette PNGs) or COCO-Stuff ``.mat``;
    ``colours``: an RGB label comes back as its colours (H×W×3), see :func:`decode_label`."""
    if path.suffix == ".mat":
        import scipy.io

        try:
            return np.asarray(scipy.io.loadmat(str(path))["S"], dtype=np.int32)
        except Exception as err:  # noqa: BLE001
            raise BadSampleError(f"{path}: cannot read COCO-Stuff .mat label (key 'S'): {err}") from err
    if not path.is_file():
        raise BadSampleError(f"{path}: label file does not exist")
    return decode_label(path.read_bytes(), str(path), colours)


# Leading bytes of the image formats we decode → the format's name.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)
IMAGE_FORMATS = ("PNG", "JPEG", "WebP", "BMP", "TIFF")


def sniff_image_format(data: bytes) -> str | None:
    """The format of encoded image bytes by their signature (one of :data:`IMAGE_FORMATS`), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def _jpeg_bytes_end_properly(data: bytes) -> bool:
    """Whether JPEG bytes end with the end-of-image marker (padding after it allowed).

    OpenCV decodes a truncated JPEG without an error (the missing part comes out grey), so a cut file
    is found by its missing marker; data failing this test is decoded fully by PIL to be sure.
    """
    return data[-64:].rstrip(b"\x00\r\n \t").endswith(b"\xff\xd9")


def _jpeg_has_end_marker(path: Path) -> bool:
    """:func:`_jpeg_bytes_end_properly` for a file, reading only its end."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 64))
        return _jpeg_bytes_end_properly(f.read())


def _verify_decode(source, name: str) -> None:
    from PIL import UnidentifiedImageError

    try:
        with Image.open(source) as img:
            img.load()
    except UnidentifiedImageError as err:  # its message names a BytesIO object, not the file
        raise BadSampleError(f"{name}: not an image (no format PIL or OpenCV reads; expected "
                             f"{', '.join(IMAGE_FORMATS)})") from err
    except Exception as err:  # noqa: BLE001 - any decoder failure means the data is bad
        raise BadSampleError(f"{name}: unreadable or truncated image file: {err}") from err


def _pil_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) of an image of a format without a header reader of ours, from PIL's header parse
    (PIL itself refuses sizes above its own decompression-bomb limit)."""
    import io

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception as err:  # noqa: BLE001 - any failure means no usable image
        _verify_decode(io.BytesIO(data), name)  # names what is wrong
        raise BadSampleError(f"{name}: not a readable image ({type(err).__name__})") from err


def verify_image_file(path: Path) -> None:
    """Decode ``path`` fully with PIL (no truncated-image tolerance); :class:`BadSampleError` if it fails."""
    _verify_decode(path, str(path))


def _scale_to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    """uint8 of a float or 32-bit picture (a TIFF of measurements): floats in [0, 1] times 255, other
    non-negative data scaled by its own maximum as 16-bit pictures are, data with negative values by its own
    range. A cast alone turned a [0, 1] picture black and wrapped larger values around 256."""
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise BadSampleError(f"{name}: the image holds NaN or infinite pixel values")
    lo, hi = float(values.min()), float(values.max())
    if array.dtype.kind == "f" and lo >= 0 and hi <= 1:
        return (values * 255 + 0.5).astype(np.uint8)
    if lo >= 0:
        return (values / max(hi, 1.0) * 255).astype(np.uint8)
    return ((values - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)


def scale_16bit(array: np.ndarray) -> np.ndarray:
    """uint8 of a 16-bit picture, scaled by its own maximum (16-bit photos and depth-like images often use
    only part of the range)."""
    return (array / max(1, int(array.max())) * 255).astype(np.uint8)


def decode_image(data: bytes, name: str, other_formats: bool = False, max_pixels: int | None = None,
                 limit_flag: str = "max_pixels") -> np.ndarray:
    """RGB uint8 H×W×3 of encoded image bytes (PNG, JPEG, WebP, BMP, TIFF; grayscale, 16-bit and RGBA
    are converted to RGB; an EXIF orientation is applied, the picture comes out upright). ``name`` (a
    file name or request) is named in errors; truncated data is an error, never silently padded.
    ``other_formats``: also try formats without a known signature
    (PPM, JPEG 2000, … that OpenCV reads), fully verified by PIL first. ``max_pixels``: refuse
    (:class:`~idrnet.data.image_header.TooManyPixelsError`, naming ``limit_flag``) an image whose header
    announces more pixels, before anything is decoded."""
    import io

    import cv2

    from .image_header import TooManyPixelsError, check_pixel_limit, refuse_over_limit

    kind = sniff_image_format(data)
    if kind is None and other_formats and data:
        if max_pixels is not None:
            refuse_over_limit(_pil_size(data, name), max_pixels, name, limit_flag)
        _verify_decode(io.BytesIO(data), name)
        kind = "image"
    if kind is None:
        raise BadSampleError(f"{name}: not an image of a supported format ({', '.join(IMAGE_FORMATS)})")
    if max_pixels is not None:
        try:
            check_pixel_limit(data, kind, max_pixels, name, limit_flag)
        except TooManyPixelsError:
            raise
        except ValueError as err:
            raise BadSampleError(str(err)) from err
    if kind != "PNG" and (kind != "JPEG" or not _jpeg_bytes_end_properly(data)):
        _verify_decode(io.BytesIO(data), name)  # OpenCV's tolerance of damage varies by codec
    # ANYDEPTH|ANYCOLOR keeps 16-bit and grey data as IMREAD_UNCHANGED does but, unlike it, turns a photo
    # stored sideways with an EXIF orientation upright, as viewers, the reference's and mmseg's cv2 reads
    # show it (and as annotation tools in a browser label it); alpha is dropped. Refuses cut PNGs itself.
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if decoded is None:
        _verify_decode(io.BytesIO(data), name)
        raise BadSampleError(f"{name}: OpenCV cannot decode this {kind} image")
    if decoded.dtype != np.uint8:
        decoded = scale_16bit(decoded) if decoded.dtype == np.uint16 else _scale_to_uint8(decoded, name)
    if decoded.ndim == 2:
        return cv2.cvtColor(decoded, cv2.COLOR_GRAY2RGB)
    if decoded.shape[2] == 4:
        return cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


# EXIF orientations (tag 0x0112) whose upright picture has the stored width and height swapped.
_QUARTER_TURNS = (5, 6, 7, 8)


def orientation_of(img: Image.Image) -> int:
    """The EXIF orientation of an opened image (1, "as stored", when it has none or an invalid one)."""
    value = img.getexif().get(0x0112, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def exif_orientation(path: Path) -> int:
    """The EXIF orientation of an image file (1 when it has none or cannot be read)."""
    try:
        with Image.open(path) as img:
            return orientation_of(img)
    except Exception:  # noqa: BLE001 - a file that cannot be read is reported by the real read
        return 1


def size_mismatch_reason(image: Path, label_shape: tuple[int, ...], image_shape: tuple[int, ...]) -> str:
    """Why a label's size differs from its (upright) image's, when an EXIF orientation explains it; else ""."""
    orientation = exif_orientation(image)
    if orientation in _QUARTER_TURNS and tuple(label_shape[:2]) == tuple(image_shape[1::-1]):
        return (f"; {image.name} carries EXIF orientation {orientation} (stored sideways) and is read upright, "
                "as viewers show it, while this label matches it as stored: write the label upright, or "
                "store the image upright without the tag (PIL: ImageOps.exif_transpose)")
    return ""


def read_image(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """RGB uint8 H×W×3 of an image file (grayscale and RGBA are converted; an EXIF orientation is
    applied). Truncated files are an error naming the file, never silently padded; ``max_pixels``: see
    :func:`decode_image`."""
    if not path.is_file():
        if path.is_symlink():
            raise BadSampleError(f"{path}: a link to {os.readlink(path)}, which does not exist")
        raise BadSampleError(f"{path}: image file does not exist")
    return decode_image(path.read_bytes(), str(path), other_formats=True, max_pixels=max_pixels)


def decode_label(data: bytes, name: str, colours: bool = False) -> np.ndarray:
    """Raw label values (H×W int32) of encoded label-PNG bytes (as :func:`read_label`). ``colours``:
    an RGB(A) label is returned as its colours (H×W×3 int32), for :class:`LabelMap` to decode."""
    import io

    try:
        with Image.open(io.BytesIO(data)) as img:
            if colours and img.mode in ("RGB", "RGBA"):
                return np.asarray(img.convert("RGB"), dtype=np.int32)
            if img.mode not in LABEL_MODES:
                hint = ("" if colours else "; colour-coded masks must be converted to indices (a custom "
                        "dataset decodes them with the palette of its dataset.yaml)")
                raise BadSampleError(
                    f"{name}: label image has mode {img.mode}; expected single-channel class indices "
                    f"({', '.join(LABEL_MODES)}){hint}"
                )
            img.load()
            return np.asarray(img, dtype=np.int32)
    except BadSampleError:
        raise
    except Exception as err:  # noqa: BLE001
        raise BadSampleError(f"{name}: unreadable or truncated label file: {err}") from err


def _pack(rgb: np.ndarray) -> np.ndarray:
    """One int64 per colour: r·2¹⁶ + g·2⁸ + b for an N×3 array."""
    rgb = np.asarray(rgb, dtype=np.int64)
    return (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


class LabelMap:
    """Raw value → training id: identity unless mapped; ``ignore`` values become ``ignore_index``.

    After mapping, any value outside [0, num_classes) other than ``ignore_index`` is an error.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = IGNORE_INDEX,
        mapping: Mapping[int, int] | None = None,
        ignore: tuple[int, ...] = (),
        shift: int = 0,
        colours: Sequence[Sequence[int]] | None = None,
        ignore_colours: Sequence[Sequence[int]] = (),
    ) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mapping = dict(mapping or {})
        self.ignore = tuple(ignore)
        self.shift = shift  # raw value v → v − shift (ADE20K, COCO-Stuff-10k, PASCAL-Context-59: 1)
        # Colour-coded masks: colour i of ``colours`` is class i, ``ignore_colours`` are ignored. The sorted
        # lookup is made once here, not per mask; a colour shared by two classes is reported only when a
        # colour mask is decoded (index masks may use such a display palette).
        self.colours = None if colours is None else np.asarray(colours, dtype=np.int64).reshape(-1, 3)
        self.ignore_colours = np.asarray(ignore_colours, dtype=np.int64).reshape(-1, 3)
        self._shared_colour: tuple[int, list[int]] | None = None
        if self.colours is not None:
            packed = _pack(self.colours)
            shared, counts = np.unique(packed, return_counts=True)
            if (counts > 1).any():
                c = int(shared[counts > 1][0])
                self._shared_colour = (c, np.flatnonzero(packed == c).tolist())
            keys = np.concatenate([packed, _pack(self.ignore_colours)])
            ids = np.concatenate([np.arange(len(packed)), np.full(len(self.ignore_colours), self.ignore_index)])
            order = np.argsort(keys, kind="stable")
            self._colour_keys, self._colour_ids = keys[order], ids[order]

    def _decode_colours(self, rgb: np.ndarray, path: Path | None) -> np.ndarray:
        """Class ids of an H×W×3 colour-coded mask (vectorised: colours packed into one integer each)."""
        if self._shared_colour is not None:
            c, classes = self._shared_colour
            raise BadSampleError(f"{path}: a colour-coded mask, and the palette gives classes {classes} one colour "
                                 f"[{c >> 16}, {(c >> 8) & 255}, {c & 255}]: give each class its own colour")
        keys, ids = self._colour_keys, self._colour_ids
        pixels = _pack(rgb.reshape(-1, 3))
        at = np.minimum(np.searchsorted(keys, pixels), len(keys) - 1)
        known = keys[at] == pixels
        if not known.all():
            colours, counts = np.unique(pixels[~known], return_counts=True)
            top = colours[np.argsort(-counts)][:10]
            raise BadSampleError(
                f"{path}: {len(colours)} colour(s) not in dataset.yaml's palette or ignore_colours: "
                + ", ".join(f"[{c >> 16}, {(c >> 8) & 255}, {c & 255}]" for c in top)
                + (" …" if len(colours) > 10 else "") + " (an antialiased or JPEG-saved mask has blended colours)"
            )
        return ids[at].reshape(rgb.shape[:2]).astype(np.int32)

    def __call__(self, raw: np.ndarray, path: Path | None = None) -> np.ndarray:
        """Mapped labels (int32); raises :class:`BadSampleError` for values that map to no class.
        An H×W×3 ``raw`` is a colour-coded mask, decoded with ``colours`` (no mapping or shift applies)."""
        if raw.ndim == 3:
            if self.colours is None:
                raise BadSampleError(f"{path}: a colour-coded label, but no colours to decode it with")
            return self._decode_colours(raw, path)
        # The table covers every value that can map to a class or to the ignore label; larger values (a
        # 32-bit mask of instance ids, say) are errors, not a table of billions of entries.
        size = max(256, self.num_classes + self.shift, self.ignore_index + self.shift + 1,
                   *(k + 1 for k in self.mapping), *(k + 1 for k in self.ignore))
        if raw.size and int(raw.max()) >= size:
            values = np.unique(raw[raw >= size])
            raise BadSampleError(
                f"{path}: label values {values[:10].tolist()}{' …' if len(values) > 10 else ''} map to no class "
                f"(expected classes 0..{self.num_classes - 1} or ignore {self.ignore_index} after mapping)"
            )
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
            hint = ""
            if values == [self.num_classes + self.shift]:  # exactly one past the last class
                hint = (f"; {values[0]} is one class more than the {self.num_classes} listed: a class missing from the "
                        "list (often the background, mask value 0), or masks that count classes from 1 (label_shift: 1)")
            raise BadSampleError(
                f"{path}: label values {values[:10]}{' …' if len(values) > 10 else ''} map to no class "
                f"(expected classes 0..{self.num_classes - 1} or ignore {self.ignore_index} after mapping){hint}"
            )
        return out.astype(np.int32)
