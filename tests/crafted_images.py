"""Images whose headers announce more pixels than they hold (decompression bombs), built in memory: a
real PNG that inflates to width × height, and small real JPEG, WebP, BMP and TIFF files whose size
fields are rewritten. Used by the server tests and benchmarks/hostile_requests.py."""

from __future__ import annotations

import struct
import zlib


def png_bomb(width: int, height: int) -> bytes:
    """A one-colour 8-bit grayscale PNG of width × height built chunk by chunk: ~1/1000 of its pixels in bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    parts = [packer.compress(row) for _ in range(height)]
    idat = b"".join(parts) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def patch_jpeg(data: bytes, w: int, h: int) -> bytes:
    at = data.index(b"\xff\xc0")
    return data[:at + 5] + struct.pack(">HH", h, w) + data[at + 9:]


def patch_webp_lossless(data: bytes, w: int, h: int) -> bytes:
    bits = int.from_bytes(data[21:25], "little")
    bits = (bits & ~((1 << 28) - 1)) | (w - 1) | ((h - 1) << 14)
    return data[:21] + bits.to_bytes(4, "little") + data[25:]


def patch_webp_lossy(data: bytes, w: int, h: int) -> bytes:
    return data[:26] + struct.pack("<HH", w, h) + data[30:]


def patch_bmp(data: bytes, w: int, h: int) -> bytes:
    return data[:18] + struct.pack("<ii", w, h) + data[26:]


def patch_tiff(data: bytes, w: int, h: int) -> bytes:
    out = bytearray(data)
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd:ifd + 2])
    for entry in range(count):
        at = ifd + 2 + 12 * entry
        tag, kind = struct.unpack("<HH", data[at:at + 4])
        if tag in (256, 257):
            value = w if tag == 256 else h
            out[at + 8:at + 12] = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
    return bytes(out)
