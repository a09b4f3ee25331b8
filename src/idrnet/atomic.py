"""Atomic file writes: write a temporary file beside the target, then rename it over the target. A crash,
Ctrl-C or a full disk leaves either the old file or the new one, never a cut or empty one."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import InputError

# Below this much free space a failed write is taken to be the disk's fault (libraries such as torch and
# safetensors report a full disk as a RuntimeError without an errno).
_NEARLY_FULL = 4 << 20
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(err: BaseException, folder: Path) -> bool:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(path: Path | str, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed,
    so a crash never leaves a half-written ``path``. A write that fails because the disk is full is
    re-raised as ``OSError(ENOSPC)`` naming ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except Exception as err:
        if _disk_full(err, path.parent):  # named by the file the user asked for, not the temporary one
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from err
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def _finite(value):
    """``value`` with every non-finite float replaced by None (strict JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path | str, record, indent: int | None = 1) -> None:
    """Write ``record`` as strict JSON (NaN and infinities as ``null``) to ``path`` atomically."""
    import json

    write_text(path, json.dumps(_finite(record), indent=indent, allow_nan=False))


def write_image(path: Path | str, rgb) -> None:
    """Encode an RGB uint8 array in the format of ``path``'s suffix (PNG, JPEG, …) and write it atomically.

    Encoded in memory and written by Python, so any file name works (OpenCV's own ``imwrite`` crashes
    the process on folder names that are not valid UTF-8)."""
    import cv2

    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix or ".png", rgb[..., ::-1])
    if not ok:
        raise InputError(f"{path}: OpenCV cannot encode an image of type {path.suffix!r}")
    write_bytes(path, encoded.tobytes())


def write_pil(path: Path | str, image, **options) -> None:
    """Save a PIL image in the format of ``path``'s suffix, atomically."""
    import io

    from PIL import Image

    path = Path(path)
    buffer = io.BytesIO()
    image.save(buffer, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"), **options)
    write_bytes(path, buffer.getvalue())
