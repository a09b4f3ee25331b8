"""The error for an input path that is not a readable regular file, saying what it is instead."""

from __future__ import annotations

from pathlib import Path


def not_a_file(path: str | Path, what: str = "") -> OSError:
    """``FileNotFoundError`` when ``path`` does not exist, ``IsADirectoryError`` for a folder, and a plain
    ``OSError`` for a device, pipe or socket (``/dev/null`` exists: "does not exist" would mislead).
    ``what`` names the file's role (``"config"``, ``"checkpoint"``) before the path."""
    path = Path(path)
    named = f"{what} {path}" if what else str(path)
    if path.is_dir():
        return IsADirectoryError(f"{named} is a folder; expected a file{run_config_hint(path)}")
    if path.exists():
        return IsADirectoryError(f"{named} is not a regular file (a device, pipe or socket); expected a file")
    return FileNotFoundError(f"{named} does not exist")


def run_config_hint(folder: Path) -> str:
    """``; a training run's folder keeps its config as F/config.yaml`` for a run's work dir, else ``""``."""
    config = folder / "config.yaml"
    runs = any((folder / n).exists() for n in ("latest.pt", "log.jsonl", "final.safetensors", "best.safetensors"))
    return f"; a training run's folder keeps its config as {config}" if config.is_file() and runs else ""


def run_weights(folder: str | Path) -> list[Path]:
    """The model files of a training run's folder (``final.safetensors``, ``best.safetensors``), for naming
    them when the folder is given where a model or weights file was expected; [] for other folders."""
    folder = Path(folder)
    return [folder / n for n in ("final.safetensors", "best.safetensors") if (folder / n).is_file()]
