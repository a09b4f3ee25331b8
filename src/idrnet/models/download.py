"""Downloads into a local cache, with checksum verification and an offline switch."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from pathlib import Path

from ..atomic import atomic_path


class DownloadError(RuntimeError):
    """A file could not be fetched (offline, no network, server error) or failed its checksum."""


def cache_dir() -> Path:
    """``$IDRNET_CACHE``, else ``~/.cache/idrnet``."""
    return Path(os.environ.get("IDRNET_CACHE", Path.home() / ".cache" / "idrnet"))


def is_offline() -> bool:
    """True when ``IDRNET_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("IDRNET_OFFLINE", "HF_HUB_OFFLINE"))


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url_or_path: str, sha256: str | None = None) -> Path:
    """A local path for ``url_or_path``: a file path is returned as is; a URL is downloaded once
    into the cache (atomically) and verified against ``sha256`` (or a hash prefix in the file name,
    as in ``resnet50_v1c-2cccc1ad.pth``)."""
    parsed = urllib.parse.urlparse(url_or_path)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else url_or_path).expanduser()
        if not path.is_file():
            from ..file_errors import not_a_file

            raise not_a_file(path, "checkpoint", "weights")  # a folder is named as one: it exists
        if sha256 is not None:
            _verify(path, sha256)
        return path
    target = cache_dir() / "checkpoints" / Path(parsed.path).name
    if not target.is_file():
        if is_offline():
            raise DownloadError(f"{url_or_path} is not in the cache ({target}) and downloads are off "
                                "(offline mode: IDRNET_OFFLINE or HF_HUB_OFFLINE is set); download it elsewhere and pass the local file")
        target.parent.mkdir(parents=True, exist_ok=True)
        from torch.hub import download_url_to_file

        try:
            with atomic_path(target, ".part") as tmp:
                download_url_to_file(url_or_path, tmp, progress=True)
                _verify(Path(tmp), sha256)
        except DownloadError:
            raise
        except Exception as err:  # noqa: BLE001 - URLError, HTTPError, timeouts, disk full: one message
            reason = getattr(err, "reason", None) or err
            raise DownloadError(f"cannot download {url_or_path}: {reason}; download it elsewhere and pass the "
                                f"local file, or place it at {target}") from err
    else:
        _verify(target, sha256)
    return target


def _verify(path: Path, sha256: str | None) -> None:
    expected = sha256
    if expected is None:
        # torchvision/open-mmlab style names carry a hash prefix: name-<8+ hex>.ext
        stem = path.name.split(".")[0]
        tail = stem.rsplit("-", 1)[-1] if "-" in stem else ""
        if len(tail) >= 8 and all(ch in "0123456789abcdef" for ch in tail):
            expected = tail
    if expected is None:
        return
    actual = sha256_of(path)
    if not actual.startswith(expected.lower()):
        raise DownloadError(f"checksum mismatch for {path}: expected sha256 {expected}…, got {actual}")
