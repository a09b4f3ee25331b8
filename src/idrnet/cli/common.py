"""Arguments shared by the inference verbs (predict, test, compare)."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..output_paths import check_folder_name, check_not_an_input  # noqa: F401 - the verbs import them from here


def at_least(least: int, most: int | None = None):
    """An argparse type: an integer ≥ ``least`` (``--runs 0`` is an error, not one silent run) and, when
    given, ≤ ``most``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < least or (most is not None and value > most):
            span = f"at least {least}" if most is None else f"{least} to {most}"
            raise argparse.ArgumentTypeError(f"expected {span}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (``nan``, ``inf`` and ``0`` are errors)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def add_tta_arguments(parser: argparse.ArgumentParser) -> None:
    """--mode/--crop/--stride/--probs-before-resize (inference settings) and --scales/--flip (TTA)."""
    g = parser.add_argument_group("inference (default: the model's own settings)")
    g.add_argument("--mode", choices=["whole", "slide"], help="whole image or sliding window")
    g.add_argument("--crop", type=at_least(1), nargs=2, metavar=("H", "W"), help="sliding-window crop size")
    g.add_argument("--stride", type=at_least(1), nargs=2, metavar=("H", "W"), help="sliding-window stride")
    g.add_argument("--probs-before-resize", action=argparse.BooleanOptionalAction, default=None,
                   help="softmax at the head's resolution before resizing")
    g.add_argument("--scales", type=positive_float, nargs="+", metavar="S",
                   help="multi-scale test-time augmentation, e.g. --scales 0.5 0.75 1 1.25 1.5 1.75")
    g.add_argument("--flip", action="store_true", help="add horizontally flipped views (left/right classes swapped)")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")


def inference_from_args(args: argparse.Namespace, base):
    """The model's InferenceConfig with the command line's changes, and the TTA config (or None)."""
    import dataclasses

    from ..evaluation.inference import TTAConfig

    changes = {}
    if args.mode:
        changes["mode"] = args.mode
    if args.crop:
        changes["crop_size"] = tuple(args.crop)
    if args.stride:
        changes["stride"] = tuple(args.stride)
    if args.probs_before_resize is not None:
        changes["probs_before_resize"] = args.probs_before_resize
    inference = dataclasses.replace(base, **changes)
    if inference.mode == "slide" and (inference.crop_size is None or inference.stride is None):
        raise InputError("--mode slide needs --crop H W and --stride H W (the model defines none)")
    scales = tuple(dict.fromkeys(args.scales or (1.0,)))  # a scale given twice would be run twice for nothing
    large = [s for s in scales if s > 4]
    if large:  # 100 for 1.00: the model runs on 10,000 times the pixels, for minutes per image
        print(f"note: --scales {' '.join(f'{s:g}' for s in large)} multiplies each image's height and width by "
              f"{'that' if len(large) == 1 else 'those'} (the published protocol uses 0.5 to 1.75); "
              "press Ctrl-C and rerun if that was a typo")
    tta = TTAConfig(scales, bool(args.flip)) if (args.scales or args.flip) else None
    return inference, tta


def add_precision_arguments(parser: argparse.ArgumentParser, onnx_file_note: bool = True) -> None:
    """--precision, --backend, --calibration and --calibration-images (see docs/deployment.md)."""
    from ..deploy.backends import BACKENDS, PRECISIONS

    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="arithmetic: fp32 (default), bf16 (autocast / OpenVINO hint) or int8 (calibrated quantisation)")
    parser.add_argument("--backend", choices=["auto", *BACKENDS], default="auto",
                        help="how the model runs (default auto: the fastest measured path for the precision on a CPU"
                             + (", ONNX Runtime for .onnx files" if onnx_file_note else "") + "; eager on a GPU)")
    parser.add_argument("--calibration", metavar="DIR_OR_CONFIG",
                        help="int8: images to calibrate on (a folder of images, a custom dataset folder or a training YAML)")
    parser.add_argument("--calibration-images", type=at_least(1), default=32, metavar="N",
                        help="int8: how many calibration images to draw (default 32)")


def check_calibration_flag(args: argparse.Namespace, required: bool = True) -> None:
    """--calibration goes with --precision int8 only; ``required``: int8 has no default calibration set."""
    if args.calibration and args.precision != "int8":
        raise InputError(f"--calibration is used by --precision int8 only (this run is {args.precision})")
    if required and args.precision == "int8" and not args.calibration:
        raise InputError("--precision int8 needs --calibration DIR_OR_CONFIG: images like those the model will see "
                         "(a folder of images, a custom dataset folder or a training YAML)")


def precision_from_args(args: argparse.Namespace, *models: str | None) -> dict:
    """Keyword arguments of :class:`idrnet.Predictor` from the precision flags, checked together.
    ``models``: the model arguments; int8 ``.onnx`` files are quantised already and need no calibration."""
    from ..apis.load import is_graph_file

    exported = bool(models) and all(is_graph_file(m) for m in models if m)
    check_calibration_flag(args, required=not exported)
    return {"precision": args.precision, "backend": args.backend, "calibration": args.calibration,
            "calibration_images": args.calibration_images}


def device_from_args(args: argparse.Namespace):
    """The torch device named by --device (auto: CUDA when available)."""
    from ..devices import parse_device

    return parse_device(args.device, "--device")


def say_workers_exceed_cores(workers: int, named: str, prog: str | None) -> None:
    """More loader workers than usable cores: one line of ours (when ``prog`` is given) in place of
    PyTorch's paragraph per loader ("This DataLoader will create N worker processes …")."""
    import sys
    import warnings

    from ..devices import usable_cores

    cores = usable_cores()
    if workers <= cores:
        return
    if prog:
        print(f"{prog}: warning: {named} is {workers} but this process may use {cores} CPU core(s): the loader workers "
              "take turns with each other and with the model, which slows the run rather than speeding it; "
              f"{cores} or fewer is usually fastest here", file=sys.stderr)
    warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)


def check_output(path, overwrite: bool, flag: str = "--out", folder: bool = False) -> None:
    """A results file (or, with ``folder``, a folder) is not replaced without ``--overwrite`` (a folder
    counts when not empty), is of that kind if it exists, and must be writable: all checked before any work."""
    from pathlib import Path

    path = Path(path)
    if folder and path.is_file():
        raise NotADirectoryError(f"{flag} {path} is a file; expected a folder")
    if not folder and path.is_dir():
        raise IsADirectoryError(f"{flag} {path} is a folder; expected a file name such as {path / 'results.json'}")
    taken = path.is_file() or (path.is_dir() and any(path.iterdir()))
    if taken and not overwrite:
        raise FileExistsError(f"{flag} {path} already exists{' and is not empty' if path.is_dir() else ''}; "
                              "pass --overwrite to replace it, or choose another path")
    check_writable(path, flag, folder=path.is_dir())


def model_bytes(model) -> int:
    """The bytes of a model's parameters and buffers: about the size of its saved or exported file."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def check_output_file(output, source: str, suffix: str, overwrite: bool):
    """The output file of a conversion: the right suffix, not the input itself, not replacing a file
    without ``--overwrite``. Returns it as a Path."""
    from pathlib import Path

    output = Path(output)
    if output.suffix != suffix:
        raise InputError(f"output {output}: expected a {suffix} file name")
    if Path(source).exists() and output.resolve() == Path(source).resolve():
        raise InputError(f"output {output} is the input file; choose another name")
    check_output(output, overwrite, "output")
    return output


def check_outside(path, folder, flag: str, what: str) -> None:
    """Outputs never go into an input folder (e.g. predictions into the dataset's label folder)."""
    from pathlib import Path

    path, folder = Path(path).resolve(), Path(folder).resolve()
    if path == folder or folder in path.parents:
        raise InputError(f"{flag} {path} lies inside {what} {folder}; choose a folder outside it")


def nearest_existing_folder(path):
    """``path`` itself when it exists, else the nearest folder above it that does (where a new file or
    folder would be made, and whose disk it would fill)."""
    from pathlib import Path

    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing


def format_size(size: int) -> str:
    """A byte count as a person reads it, in the largest binary unit that keeps it at 1 or more: a nearly
    full disk must not read "0.0 GiB free"."""
    if size < 1024:
        return f"{size} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1023.5 or unit == "TiB":  # never "1024 KiB"
            return f"{size:.1f} {unit}" if size < 100 else f"{size:.0f} {unit}"
    raise AssertionError("unreachable")


def check_writable(path, flag: str, folder: bool = False, need_bytes: int = 0) -> None:
    """Refuse, before any work, an output that cannot be written: ``path``'s folder (``path`` itself
    when ``folder``), or the nearest existing folder above it, must take a new file and have
    ``need_bytes`` free."""
    import errno
    import shutil
    import tempfile
    from pathlib import Path

    existing = nearest_existing_folder(Path(path) if folder else Path(path).parent)
    if not existing.is_dir():
        raise NotADirectoryError(f"{flag} {path}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise PermissionError(f"{flag} {path}: cannot write in {existing} ({err.strerror}); choose another location") from err
    free = shutil.disk_usage(existing).free
    if free < need_bytes:
        raise OSError(errno.ENOSPC, f"{flag} {path} needs about {format_size(need_bytes)}, {existing} has "
                                    f"{format_size(free)} free")
