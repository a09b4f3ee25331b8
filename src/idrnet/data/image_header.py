"""An image's width and height read from its header bytes, for every format we decode, before any decoder
(PIL or OpenCV) sees the data: a 1 MB PNG can announce 20000×20000 pixels, and a pixel limit is only a
limit if it is checked without trusting a library's own (PIL gives up above ~179 Mpx, OpenCV decodes)."""

from __future__ import annotations

import struct

from ..errors import InputError

# File suffixes (lower case) read as images (the formats whose headers are read here) and as videos (OpenCV).
# .jfif and .jpe are JPEG under the names Windows and old cameras give it.
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
IMAGE_SUFFIXES = JPEG_SUFFIXES | {".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
# Pictures neither PIL nor OpenCV here decodes (HEIC: iPhones' default), named when they are skipped.
UNREAD_PICTURE_SUFFIXES = frozenset({".heic", ".heif", ".avif", ".gif", ".jxl", ".raw", ".dng", ".cr2", ".nef", ".arw"})


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the frame size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8}


def _jpeg(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _SOF:
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (header,) = struct.unpack("<I", data[14:18])
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    (ifd,) = struct.unpack(order + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[ifd:ifd + 2])
    size: dict[int, int] = {}
    for entry in range(count):
        at = ifd + 2 + 12 * entry
        if at + 12 > len(data):
            return None
        tag, kind = struct.unpack(order + "HH", data[at:at + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            if kind == 3:
                size[tag] = struct.unpack(order + "H", data[at + 8:at + 10])[0]
            elif kind == 4:
                size[tag] = struct.unpack(order + "I", data[at + 8:at + 12])[0]
            else:
                return None
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None


_READERS = {"PNG": _png, "JPEG": _jpeg, "WebP": _webp, "BMP": _bmp, "TIFF": _tiff}


def header_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) announced by the header of encoded ``data`` of format ``kind`` (a name from
    :data:`idrnet.data.labels.IMAGE_FORMATS`), or None when the header is cut or malformed. Reads only
    the header: nothing is decoded or allocated by the announced size."""
    reader = _READERS.get(kind)
    if reader is None:
        return None
    try:
        return reader(data)
    except struct.error:
        return None


class TooManyPixelsError(InputError):
    """An image whose header announces more pixels than allowed; the message names the limit's parameter or flag."""


def refuse_over_limit(size: tuple[int, int], max_pixels: int, what: str, flag: str) -> None:
    """:class:`TooManyPixelsError` when an image of ``size`` (width, height) exceeds ``max_pixels``."""
    if size[0] * size[1] > max_pixels:
        raise TooManyPixelsError(f"{what} has {size[0]}×{size[1]} pixels, more than the limit of {max_pixels:,} ({flag}={max_pixels})")


def check_pixel_limit(data: bytes, kind: str, max_pixels: int, what: str, flag: str) -> tuple[int, int]:
    """The announced (width, height) of ``data``; :class:`TooManyPixelsError` above ``max_pixels``, and
    ValueError when the header gives no size (the image is refused rather than decoded blind)."""
    size = header_size(data, kind)
    if size is None or 0 in size:  # a zero is no size either (a JPEG height deferred to a DNL marker)
        raise InputError(f"{what}: the {kind} header is cut or malformed (no image size in it)")
    refuse_over_limit(size, max_pixels, what, flag)
    return size
