"""Where results may be written: never over an input, never among a dataset's images or labels."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError


def check_not_an_input(path, flag: str, files=(), data_root=None, samples=()) -> None:
    """Outputs never replace an input, ``--overwrite`` or not: ``path`` is none of ``files`` (a checkpoint,
    a config), replaces no file under ``data_root`` and lies in no folder holding one of ``samples``' images
    or labels (where it would be read as data). Checked before writing."""
    target = Path(path).resolve()
    for file in files:
        if file is not None and Path(file).is_file() and Path(file).resolve() == target:
            raise InputError(f"{flag} {path} is an input of this command ({file}); choose another path")
    if data_root is not None and target.is_file() and Path(data_root).resolve() in target.parents:
        raise InputError(f"{flag} {path} would replace a file of the dataset folder {data_root}; choose another path")
    # The folders the dataset lists (a linked image counts where its link is); resolved once each.
    folders = {f.resolve() for f in {p.parent for s in samples for p in (s.image, s.label) if p is not None}}
    inside = next((f for f in sorted(folders) if f == target or f in target.parents), None)
    if inside is not None:
        raise InputError(f"{flag} {path} lies in the dataset's image or label folder {inside}, where it would be read "
                         "as data; choose a path outside it")


# Names that are files by their suffix: given where a folder is wanted, they are a slip.
_FILE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".npy", ".npz",
                            ".json", ".jsonl", ".csv", ".txt", ".md", ".html", ".pdf", ".mp4", ".avi", ".mov",
                            ".mkv", ".webm", ".onnx", ".safetensors", ".pt", ".pth", ".yaml", ".yml"})


def check_folder_name(path, flag: str, writes: str, example: str) -> None:
    """A folder flag given a file name that is not an existing folder (``--out mask.png``) is refused:
    it would become a folder of that name, holding ``writes``. ``flag`` is ``--out``, or ``out=`` for a
    keyword argument of the Python API."""
    path = Path(path)
    given = "" if flag.endswith("=") else " "
    if path.suffix.lower() in _FILE_SUFFIXES and not path.is_dir() and not path.is_file():
        raise InputError(f"{flag}{given}{path} looks like a file name, but {flag.rstrip('=')} names a folder ({writes} "
                         f"are written there); give a folder, such as {flag}{given}{example}")
