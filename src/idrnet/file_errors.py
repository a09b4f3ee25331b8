"""The error for an input path that is not a readable regular file, saying what it is instead."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

RunPart = Literal["config", "weights", "state"]
# The files that make a folder a training run's work dir (engine/work_dir.py writes them and takes this list
# from here: this module sits below the engine), and the run's file of each part a verb may want.
RUN_MARKERS = ("latest.pt", "best.safetensors", "final.safetensors", "log.jsonl")
_RUN_PARTS: dict[str, tuple[str, ...]] = {"config": ("config.yaml",), "weights": ("final.safetensors", "best.safetensors"),
                                          "state": ("latest.pt",)}


def not_a_file(path: str | Path, what: str = "", run_part: RunPart | None = None) -> OSError:
    """``FileNotFoundError`` when ``path`` does not exist, ``IsADirectoryError`` for a folder, and a plain
    ``OSError`` for a device, pipe or socket (``/dev/null`` exists: "does not exist" would mislead).
    ``what`` names the file's role (``"config"``, ``"checkpoint"``) before the path; ``run_part`` is the file
    of a training run's folder that was wanted, named when the folder is a run's."""
    path = Path(path)
    named = f"{what} {path}" if what else str(path)
    if path.is_dir():
        return IsADirectoryError(f"{named} is a folder; expected a file"
                                 + (run_folder_hint(path, run_part) if run_part else ""))
    if path.exists():
        return IsADirectoryError(f"{named} is not a regular file (a device, pipe or socket); expected a file")
    return FileNotFoundError(f"{named} does not exist")


def run_folder_hint(folder: Path, part: RunPart) -> str:
    """``; a training run's folder keeps its config as F/config.yaml`` (its weights, its training state) when
    ``folder`` is a run's work dir, else ``""``."""
    found = _present(folder, part)
    if not (found and any((folder / n).exists() for n in RUN_MARKERS)):
        return ""
    return f"; a training run's folder keeps its {part.replace('state', 'training state')} as " \
           + " or ".join(map(str, found))


def run_weights(folder: str | Path) -> list[Path]:
    """The model files of a training run's folder (``final.safetensors``, ``best.safetensors``), for naming
    them when the folder is given where a model or weights file was expected; [] for other folders."""
    return _present(Path(folder), "weights")


def _present(folder: Path, part: RunPart) -> list[Path]:
    """The files of ``part`` that ``folder`` holds."""
    return [folder / n for n in _RUN_PARTS[part] if (folder / n).is_file()]
