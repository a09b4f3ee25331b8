"""Segment images, folders and videos; write label PNGs, colour overlays and optionally probabilities.

  idrnet predict INPUT [INPUT ...] --model MODEL [--checkpoint CKPT] [--out DIR] [--probs]

MODEL is a zoo name (with --checkpoint, or --checkpoint official for the published weights), an .onnx
file from `idrnet export` (run with ONNX Runtime), one of
our .safetensors files (weights, config, class names), or a model YAML with --checkpoint.
Videos (.mp4 .avi .mov .mkv .webm) give an overlay video (and with --labels a folder of label PNGs).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..data.image_header import IMAGE_SUFFIXES, UNREAD_PICTURE_SUFFIXES, VIDEO_SUFFIXES
from ..errors import InputError
from .common import (
    add_precision_arguments, add_tta_arguments, at_least, check_folder_name, check_writable, device_from_args, format_size,
    inference_from_args, nearest_existing_folder, precision_from_args,
)

if TYPE_CHECKING:  # numpy is imported when a command runs, not when the CLI starts
    import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet predict``."""
    parser.add_argument("inputs", nargs="+", help="image files, folders (searched recursively), videos, or "
                        "wildcard patterns such as 'photos/*.jpg' or 'photos/**/*.png'")
    parser.add_argument("--model", help="zoo name, .safetensors file or model YAML (required)")
    parser.add_argument("--checkpoint", help="weights: a path, a URL, or 'official' for the zoo model's published ones")
    parser.add_argument("--data", help="custom dataset folder (or its dataset.yaml, or a training config) "
                                       "giving class names and colours")
    parser.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    parser.add_argument("--probs", action="store_true", help="also save class probabilities (float16 .npy, K×H×W)")
    parser.add_argument("--labels", action="store_true", help="for videos: also save one label PNG per frame")
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (default 0.5)")
    parser.add_argument("--no-legend", action="store_true", help="overlays without the colour legend of the classes found")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run in --out")
    parser.add_argument("--skip-existing", action="store_true",
                        help="continue an interrupted run: skip inputs whose outputs all exist in --out")
    parser.add_argument("--max-pixels", type=at_least(1), default=40_000_000,
                        help="refuse images larger than this many pixels, read from the file's header (default 40M)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip unreadable, truncated or too large images (over --max-pixels, or out of memory) "
                             "and unreadable videos (listed in OUT/skipped.txt) instead of stopping")
    parser.add_argument("--no-test-resize", action="store_true", help="run at the image's own size, not the dataset's test scale")
    add_tta_arguments(parser)
    add_precision_arguments(parser)


# Below this many images (and no video) `--backend auto` runs eager fp32: compiling costs more than it saves.
COMPILE_WORTHWHILE = 8


def _suffix_counts(paths: list[Path]) -> str:
    from collections import Counter

    counts = Counter(p.suffix.lower() or "(no suffix)" for p in paths)
    return ", ".join(f"{n} {suffix}" for suffix, n in counts.most_common(5))


def expand_patterns(inputs: list[str]) -> list[str]:
    """Inputs with their wildcard patterns (``imgs/*.jpg``, ``**/*.png``) replaced by the paths they match:
    Windows' shells pass patterns on as they are, and so does a quoted one in bash. A path that exists is
    taken as it is, whatever its name holds."""
    import glob

    expanded: list[str] = []
    for item in inputs:
        if any(c in item for c in "*?[") and not Path(item).exists() and not Path(item).is_symlink():
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise FileNotFoundError(f"{item}: no file or folder matches this pattern")
            expanded += matches
        else:
            expanded.append(item)
    return expanded


def collect_inputs(inputs: list[str], skipped: list[Path] | None = None) -> list[Path]:
    """Image and video files from paths and folders, in a stable order, each once; unknown paths are
    an error. Pictures of formats that are not read (HEIC, GIF …) found in folders are added to ``skipped``."""
    files: list[Path] = []
    readable = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    for item in inputs:
        if item.lower().startswith(("http://", "https://")):
            raise InputError(f"{item}: a URL; predict reads files and folders: download it first "
                             "(curl -O URL, or wget URL)")
        path = Path(item)
        if path.is_dir():
            # A broken link is kept: reading it then fails like any unreadable image (named, --skip-bad lists it).
            present = [p for p in path.rglob("*") if p.is_file() or p.is_symlink()]
            found = sorted(p for p in present if p.suffix.lower() in readable)
            unread = sorted(p for p in present if p.suffix.lower() in UNREAD_PICTURE_SUFFIXES)
            if not found:
                what = f" (it holds {_suffix_counts(present)})" if present else " (it is empty)"
                hint = "; HEIC, GIF and camera-raw pictures are not read: convert them to PNG or JPEG" if unread else ""
                raise FileNotFoundError(f"{path}: no images or videos in this folder{what}{hint}")
            files += found
            if skipped is not None:
                skipped += unread
        elif path.is_file():
            if path.suffix.lower() not in readable:
                hint = (": HEIC, GIF and camera-raw pictures are not read; convert it to PNG or JPEG"
                        if path.suffix.lower() in UNREAD_PICTURE_SUFFIXES else "")
                raise InputError(f"{path}: not an image or video file (expected one of "
                                 f"{', '.join(sorted(readable))}){hint}")
            files.append(path)
        else:
            from ..file_errors import not_a_file

            raise not_a_file(path)
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def _input_roots(inputs: list[str]) -> list[Path]:
    """The folder each input's relative output path is taken from: a folder input itself, a file's parent."""
    return [Path(i).resolve() if Path(i).is_dir() else Path(i).resolve().parent for i in inputs]


def plan_outputs(files: list[Path], inputs: list[str], out: Path, probs: bool, labels: bool) -> dict[Path, dict[str, Path]]:
    """Output paths of every input, mirroring the inputs' paths relative to their common folder, so
    that no two inputs share an output (``x/a.png`` and ``y/a.png`` → ``OUT/x/a.png``, ``OUT/y/a.png``;
    ``a.jpg`` and ``a.png`` side by side → ``a_jpg.png``, ``a_png.png``).

    Raises :class:`ValueError` when ``out`` is or lies inside an input folder, or an output would
    replace an input file.
    """
    import os

    out = out.resolve()
    roots = _input_roots(inputs)
    for item, root in zip(inputs, roots):
        if Path(item).is_dir() and (out == root or root in out.parents):
            raise InputError(f"--out {out} is inside the input folder {item}: predictions would be mixed with "
                             "(or replace) the inputs and be read as inputs next time; choose another folder")
    # Output names follow the paths as given, links not followed: a linked image is named by its link,
    # and one that points outside its folder stays inside the mirrored tree.
    given = [Path(os.path.abspath(i)) if Path(i).is_dir() else Path(os.path.abspath(i)).parent for i in inputs]
    base = Path(os.path.commonpath([str(r) for r in given])) if given else out
    stems: dict[tuple[Path, str], int] = {}
    rel = {f: Path(os.path.abspath(f)).relative_to(base) for f in files}
    for f, r in rel.items():
        stems[(r.parent, r.stem)] = stems.get((r.parent, r.stem), 0) + 1
    plan: dict[Path, dict[str, Path]] = {}
    for f, r in rel.items():
        stem = r.stem if stems[(r.parent, r.stem)] == 1 else f"{r.stem}_{r.suffix.lstrip('.').lower()}"
        folder = out / r.parent
        if f.suffix.lower() in VIDEO_SUFFIXES:
            targets = {"video": folder / f"{stem}_overlay.mp4"}
            if labels:
                targets["labels"] = folder / f"{stem}_labels"
        else:
            targets = {"label": folder / f"{stem}.png", "overlay": folder / f"{stem}_overlay.jpg"}
            if probs:
                targets["probs"] = folder / f"{stem}_probs.npy"
        plan[f] = targets
    # On a disk that ignores case (macOS, Windows, a USB stick) a.png and A.png are one file: the second
    # image's outputs would silently replace the first's.
    fold = ignores_case(out)
    owners: dict[str, tuple[Path, Path]] = {}
    inputs_resolved = {f.resolve() for f in files}
    for f, targets in plan.items():
        for target in targets.values():
            if target in inputs_resolved:
                raise InputError(f"the output {target} would replace an input image; choose another --out folder")
            key = str(target).casefold() if fold else str(target)
            if key in owners:
                other, other_target = owners[key]
                if other_target == target:
                    raise InputError(f"{other} and {f} would both be written to {target}; rename one")
                raise InputError(f"{other} and {f} differ only in case: their outputs {other_target.name} and "
                                 f"{target.name} would be one file on the --out disk, which ignores case; rename one")
            owners[key] = (f, target)
    return plan


def ignores_case(folder: Path) -> bool:
    """Whether the filesystem that holds (or will hold) ``folder`` treats names that differ only in case as one,
    asked of the nearest existing folder: one of its entries looked up with its case swapped."""
    import itertools
    import os

    near = folder.resolve()
    while not near.exists() and near != near.parent:
        near = near.parent
    try:
        # A name inside `near` is looked up by near's own filesystem (a mount point's name is its parent's).
        # A few entries are enough: an --out folder of a resumed run may hold a hundred thousand.
        with os.scandir(near) as entries:
            probes = [Path(e.path) for e in itertools.islice(entries, 20)] + [near]
    except OSError:
        return False
    for probe in probes:
        if probe.name.swapcase() != probe.name:
            twin = probe.parent / probe.name.swapcase()
            try:
                return twin.exists() and os.path.samefile(probe, twin)
            except OSError:
                return False
    return False


def existing_outputs(plan: dict[Path, dict[str, Path]]) -> list[Path]:
    """Planned outputs that already exist (a finished run's results are not replaced without --overwrite)."""
    return [t for targets in plan.values() for t in targets.values() if t.exists()]


def _opencv_path(path: Path, what: str) -> str:
    """``path`` as OpenCV's video functions take it: they crash the process on names that are not UTF-8."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} {path!s}: OpenCV's video functions cannot use a path that is not valid UTF-8; "
                         "rename the folder or file") from None
    return text


def write_probabilities(predictor, rgb: np.ndarray, file) -> np.ndarray:
    """Write ``rgb``'s class probabilities to ``file`` as a ``(K, H, W)`` float16 ``.npy`` a group of
    classes at a time (their rows follow one another in the file), and return the label map, the first
    most probable class of each pixel."""
    import numpy as np
    import torch

    from ..evaluation.inference import keep_best

    classes = predictor.model.num_classes
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
              "shape": (classes, *rgb.shape[:2])}
    np.lib.format.write_array_header_1_0(file, header)
    best = labels = None
    for first, group in predictor.proba_groups(rgb):
        file.write(group.astype(np.float16).tobytes())
        best, labels = keep_best(best, labels, torch.from_numpy(group), first, dim=0)
    assert labels is not None
    return labels.numpy().astype(np.uint8 if classes <= 256 else np.int32)


def probabilities_bytes(images: list[Path], num_classes: int) -> int:
    """About how many bytes ``--probs`` writes for ``images`` (K × H × W float16 each), from the sizes
    their headers announce; an image whose header gives no size within its first 256 KB is not counted."""
    from ..data.image_header import header_size
    from ..data.labels import sniff_image_format

    total = 0
    for path in images:
        try:
            with open(path, "rb") as f:
                head = f.read(256 * 1024)  # a JPEG's frame header may follow a large EXIF thumbnail
        except OSError:
            continue  # reported when the image is read
        size = header_size(head, sniff_image_format(head) or "")
        if size is not None:
            total += num_classes * size[0] * size[1] * 2 + 128
    return total


def check_predict_arguments(args: argparse.Namespace) -> None:
    """Values that would give wrong pictures or contradict each other, refused before any work."""
    import math

    if not (math.isfinite(args.alpha) and 0.0 <= args.alpha <= 1.0):
        raise InputError(f"--alpha {args.alpha}: expected an opacity between 0 and 1")
    if args.overwrite and args.skip_existing:
        raise InputError("--overwrite replaces earlier outputs, --skip-existing keeps them: pass one of them")
    if args.model is None:
        from ..models.model_folder import is_model_folder
        from ..apis.load import MODEL_FILE_SUFFIXES
        from ..models.zoo import MODEL_ZOO

        # Other verbs take the model first (compare, serve, export …): a model given that way is named.
        model_like = next((i for i in args.inputs if Path(i).suffix.lower() in MODEL_FILE_SUFFIXES
                           or i in MODEL_ZOO or is_model_folder(i)), None)
        hint = (f"; {model_like} looks like a model: predict takes it as --model "
                f"(idrnet predict IMAGES --model {model_like})") if model_like else ""
        raise InputError(f"the following argument is required: --model{hint}")


def predict_video(predictor, path: Path, target: Path, alpha: float, labels_dir: Path | None) -> Path:
    """Overlay every frame of a video into ``target`` (and label PNGs into ``labels_dir``); returns ``target``.
    The video is written under a temporary name and renamed when whole, after its label PNGs: an existing
    ``target`` is a finished one (what ``--skip-existing`` relies on)."""
    from ..atomic import atomic_path

    _opencv_path(target, "output")  # refused before any work
    with atomic_path(target, suffix=target.suffix) as partial:
        _write_video(predictor, path, Path(partial), alpha, labels_dir)
    return target


def _write_video(predictor, path: Path, target: Path, alpha: float, labels_dir: Path | None) -> None:
    # FFmpeg's own complaint ("moov atom not found") would precede our one-line error for a cut video; read
    # when OpenCV first opens a video (a value the user set is kept)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2
    from tqdm import tqdm

    from ..data.labels import BadSampleError
    from ..evaluation.evaluator import save_label_png

    capture = cv2.VideoCapture(_opencv_path(path, "video"))
    if not capture.isOpened():
        raise BadSampleError(f"{path}: cannot open this video (empty, cut short or not a video)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    writer = None
    try:
        for index in tqdm(range(total) if total else iter(int, 1), desc=path.name, total=total, dynamic_ncols=True):
            ok, frame = capture.read()
            if not ok:
                break
            rgb = frame[..., ::-1].copy()
            label = predictor.predict(rgb)
            blended = predictor.overlay(rgb, label, alpha)
            if writer is None:
                h, w = rgb.shape[:2]
                writer = cv2.VideoWriter(_opencv_path(target, "output"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise OSError(f"cannot write video {target}")
            writer.write(blended[..., ::-1].copy())
            if labels_dir is not None:
                save_label_png(label, labels_dir / f"{index:06d}.png", predictor.description.palette,
                               num_classes=len(predictor.description.classes))
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if writer is None:
        raise BadSampleError(f"{path}: the video has no readable frames")


def run(args: argparse.Namespace) -> int:
    """Predict every input and report where the outputs went."""
    from tqdm import tqdm

    from ..apis.create import official_checkpoint
    from ..apis.load import check_weights_given, is_graph_file
    from ..apis.predictor import Predictor
    from ..atomic import atomic_path, write_image, write_text
    from ..data.image_header import TooManyPixelsError
    from ..data.labels import BadSampleError, read_image
    from ..errors import out_of_memory
    from ..evaluation.evaluator import save_label_png
    from ..visualization import with_legend

    check_predict_arguments(args)
    inputs = expand_patterns(args.inputs)
    unread: list[Path] = []
    files = collect_inputs(inputs, unread)
    if unread:
        print(f"note: {len(unread)} picture(s) of a format that is not read are left out ({_suffix_counts(unread)}; "
              f"e.g. {unread[0]}): convert them to PNG or JPEG")
    out = Path(args.out)
    check_folder_name(out, "--out", "a label PNG and an overlay per image", "predictions")
    plan = plan_outputs(files, inputs, out, args.probs, args.labels)
    existing = existing_outputs(plan)
    if args.skip_existing:
        # Outputs are written atomically, so one that exists is complete; an input is done when all are.
        done = [f for f, targets in plan.items() if all(t.exists() for t in targets.values())]
        files = [f for f in files if f not in set(done)]
        if done:
            print(f"skipping {len(done)} input(s) whose outputs exist in {out}")
    elif existing and not args.overwrite:
        raise InputError(f"{len(existing)} output(s) already exist in {out} (first: {existing[0]}); "
                         "pass --skip-existing to continue an interrupted run, --overwrite to replace them, "
                         "or choose another --out")
    check_writable(out, "--out", folder=True)
    checkpoint = official_checkpoint(args.checkpoint)
    check_weights_given(args.model, checkpoint)
    runtime = precision_from_args(args, args.model)
    images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    if args.backend == "auto" and args.precision == "fp32" and len(images) == len(files) < COMPILE_WORTHWHILE \
            and not is_graph_file(args.model):
        runtime["backend"] = "eager"
    predictor = Predictor(args.model, checkpoint, device_from_args(args), data=args.data,
                          test_scale=None if args.no_test_resize else True, **runtime)
    predictor.inference, predictor.tta = inference_from_args(args, predictor.inference)
    if args.probs:  # K×H×W per image: 150 ADE20K classes on a 12-megapixel photo is 3.6 GB
        import shutil

        need = probabilities_bytes(images, predictor.model.num_classes)
        free = shutil.disk_usage(nearest_existing_folder(out)).free
        if need > free:
            raise InputError(f"--probs would write about {format_size(need)} ({predictor.model.num_classes} classes × "
                             f"pixels × 2 bytes per image) and {out} has {format_size(free)} free: drop --probs, "
                             "predict fewer images, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    for path in tqdm(images, desc="predict", disable=len(images) < 2, dynamic_ncols=True):
        targets = plan[path]
        try:
            rgb = read_image(path, args.max_pixels)
        except (BadSampleError, TooManyPixelsError) as err:
            if not args.skip_bad:
                raise BadSampleError(f"{err} (pass --skip-bad to skip such images and list them)") from err
            skipped.append(str(err))
            continue
        targets["label"].parent.mkdir(parents=True, exist_ok=True)
        try:
            if args.probs:
                with atomic_path(targets["probs"]) as tmp, open(tmp, "wb") as f:
                    label = write_probabilities(predictor, rgb, f)
            else:
                label = predictor.predict(rgb)
        except Exception as err:  # noqa: BLE001 - running out of memory on one large image is that image's problem
            asked = out_of_memory(err)
            if asked is None:
                raise
            said = (f"{path}: out of memory on this {rgb.shape[0]}x{rgb.shape[1]} image"
                    + (f" (an allocation of {asked} failed)" if asked else ""))
            if not args.skip_bad:
                raise BadSampleError(f"{said}; pass --skip-bad to skip such images and list them, lower --max-pixels, "
                                     "or predict in tiles with --mode slide") from err
            skipped.append(said)
            continue
        save_label_png(label, targets["label"], predictor.description.palette,
                       num_classes=len(predictor.description.classes))
        picture = predictor.overlay(rgb, label, args.alpha)
        if not args.no_legend:
            picture = with_legend(picture, [label], predictor.class_names, predictor.description.palette, predictor.description.ignore_index)
        write_image(targets["overlay"], picture)
    videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    bad_videos = 0
    for path in videos:
        targets = plan[path]
        targets["video"].parent.mkdir(parents=True, exist_ok=True)
        try:
            print(f"wrote {predict_video(predictor, path, targets['video'], args.alpha, targets.get('labels'))}")
        except BadSampleError as err:
            if not args.skip_bad:
                raise BadSampleError(f"{err} (pass --skip-bad to skip such files and list them)") from err
            skipped.append(str(err))
            bad_videos += 1
    skip_list = out / "skipped.txt"
    if skipped:
        write_text(skip_list, "\n".join(skipped) + "\n")
        print(f"skipped {len(skipped)} file(s) (unreadable, over --max-pixels, or out of memory), listed in {skip_list}:",
              *skipped[:20], sep="\n  ")
    elif skip_list.exists() and args.skip_bad:
        skip_list.unlink()  # a fresh list per run: none this time
    done = f"{len(images) - (len(skipped) - bad_videos)} image(s)"
    if videos:
        done += f" and {len(videos) - bad_videos} video(s)"
    print(f"{done} → {out} (label PNGs, *_overlay.jpg{', *_probs.npy' if args.probs else ''}"
          f"{', *_overlay.mp4' if videos else ''})")
    return 0
