"""Segment images, folders and videos; write label PNGs, colour overlays and optionally probabilities.

  idrnet predict INPUT [INPUT ...] --model MODEL [--checkpoint CKPT] [--out DIR] [--probs]

MODEL is a zoo name (with --checkpoint, or --checkpoint official for the published weights), an .onnx
file from `idrnet export` (run with ONNX Runtime), one of
our .safetensors files (weights, config, class names), or a model YAML with --checkpoint.
Videos (.mp4 .avi .mov .mkv .webm) give an overlay video (and with --labels a folder of label PNGs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_tta_arguments, device_from_args, inference_from_args

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet predict``."""
    parser.add_argument("inputs", nargs="+", help="image files, folders (searched recursively) or videos")
    parser.add_argument("--model", required=True, help="zoo name, .safetensors file or model YAML")
    parser.add_argument("--checkpoint", help="weights: a path, a URL, or 'official' for the zoo model's published ones")
    parser.add_argument("--data", help="custom dataset folder whose dataset.yaml gives class names and colours")
    parser.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    parser.add_argument("--probs", action="store_true", help="also save class probabilities (float16 .npy, K×H×W)")
    parser.add_argument("--labels", action="store_true", help="for videos: also save one label PNG per frame")
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (default 0.5)")
    parser.add_argument("--no-test-resize", action="store_true", help="run at the image's own size, not the dataset's test scale")
    add_tta_arguments(parser)


def collect_inputs(inputs: list[str]) -> list[Path]:
    """Image and video files from paths and folders, in a stable order; unknown paths are an error."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{path}: no images or videos in this folder")
            files += found
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                raise ValueError(f"{path}: not an image or video file (expected one of "
                                 f"{', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
            files.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return files


def _write_rgb(path: Path, rgb) -> None:
    import cv2

    if not cv2.imwrite(str(path), rgb[..., ::-1]):
        raise OSError(f"cannot write {path}")


def predict_video(segmenter, path: Path, out: Path, alpha: float, labels: bool) -> Path:
    """Overlay every frame of a video; returns the written video's path."""
    import cv2
    from tqdm import tqdm

    from ..evaluation.evaluator import save_label_png

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: cannot open this video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    target = out / f"{path.stem}_overlay.mp4"
    writer = None
    try:
        for index in tqdm(range(total) if total else iter(int, 1), desc=path.name, total=total, dynamic_ncols=True):
            ok, frame = capture.read()
            if not ok:
                break
            rgb = frame[..., ::-1].copy()
            label = segmenter.predict(rgb)
            blended = segmenter.overlay(rgb, label, alpha)
            if writer is None:
                h, w = rgb.shape[:2]
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise OSError(f"cannot write video {target}")
            writer.write(blended[..., ::-1].copy())
            if labels:
                save_label_png(label, out / f"{path.stem}_labels" / f"{index:06d}.png", segmenter.meta.palette)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError(f"{path}: the video has no readable frames")
    return target


def run(args: argparse.Namespace) -> int:
    """Predict every input and report where the outputs went."""
    import numpy as np
    from tqdm import tqdm

    from ..apis.segmenter import Segmenter, to_rgb_array
    from ..evaluation.evaluator import save_label_png
    from ..models.zoo import MODEL_ZOO

    files = collect_inputs(args.inputs)
    checkpoint = True if args.checkpoint == "official" else args.checkpoint
    if args.model in MODEL_ZOO and checkpoint is None:
        raise ValueError(f"{args.model} is a zoo name: pass --checkpoint PATH or --checkpoint official")
    segmenter = Segmenter(args.model, checkpoint, device_from_args(args), data=args.data,
                          test_scale=None if args.no_test_resize else True)
    segmenter.inference, segmenter.tta = inference_from_args(args, segmenter.inference)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    for path in tqdm(images, desc="predict", disable=len(images) < 2, dynamic_ncols=True):
        rgb = to_rgb_array(path)
        if args.probs:
            probs = segmenter.predict_proba(rgb)
            label = probs.argmax(0).numpy().astype(np.uint8)
            np.save(out / f"{path.stem}_probs.npy", probs.numpy().astype(np.float16))
        else:
            label = segmenter.predict(rgb)
        save_label_png(label, out / f"{path.stem}.png", segmenter.meta.palette)
        _write_rgb(out / f"{path.stem}_overlay.jpg", segmenter.overlay(rgb, label, args.alpha))
    for path in (f for f in files if f.suffix.lower() in VIDEO_SUFFIXES):
        print(f"wrote {predict_video(segmenter, path, out, args.alpha, args.labels)}")
    print(f"{len(images)} image(s) → {out} (label PNGs, *_overlay.jpg{', *_probs.npy' if args.probs else ''})")
    return 0
