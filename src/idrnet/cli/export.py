"""Export a model to ONNX (dynamic batch, height and width) and check it against PyTorch.

  idrnet export MODEL out.onnx [--checkpoint CKPT] [--check-sizes 256x256 384x512]
                               [--precision int8 --calibration DIR_OR_CONFIG [--calibration-images N]]

MODEL is one of our .safetensors files, or a zoo name (with --checkpoint PATH|official) or model YAML.
The exported graph maps normalised images (B, 3, H, W) to logits (B, K, H, W); `idrnet predict
--model out.onnx` runs it with ONNX Runtime (or OpenVINO with --backend openvino). With --precision int8
the file is quantised (QDQ: int8 convolutions, per-channel weights) on calibration images of your data.
"""

from __future__ import annotations

import argparse
import re

from ..errors import InputError
from .common import at_least


def _size(text: str) -> tuple[int, int]:
    if text.lower() == "none":
        return (0, 0)
    parts = re.split(r"\s*[x×*,]\s*", text.strip().lower())
    try:  # one number is a square (bench --size 512)
        h, w = (int(v) for v in (parts * 2 if len(parts) == 1 else parts))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 512x512, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"expected positive sizes HxW such as 512x512, got {text!r}")
    return h, w


def _example_size(text: str) -> tuple[int, int]:
    if text.lower() == "none":
        raise argparse.ArgumentTypeError("expected HxW such as 256x256 (tracing needs an example input)")
    return _size(text)


DEFAULT_CHECK_SIZES = [(256, 256), (321, 479)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet export``."""
    parser.add_argument("model", help=".safetensors file, zoo name or model YAML")
    parser.add_argument("output", help="the .onnx file to write")
    parser.add_argument("--checkpoint", help="weights for a zoo name or YAML: path, URL or 'official'")
    parser.add_argument("--example-size", type=_example_size, default=(256, 256), metavar="HxW",
                        help="size of the example input used while tracing (default 256x256)")
    parser.add_argument("--check-sizes", type=_size, nargs="*", default=DEFAULT_CHECK_SIZES, metavar="HxW",
                        help="compare ONNX Runtime with PyTorch at these sizes (default 256x256 321x479; 'none' skips)")
    parser.add_argument("--fixed-size", action="store_true",
                        help="export for the --example-size only (for a model that is right only at one size)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    parser.add_argument("--precision", choices=["fp32", "int8"], default="fp32",
                        help="fp32 (default) or int8 (static quantisation calibrated on --calibration)")
    parser.add_argument("--calibration", metavar="DIR_OR_CONFIG",
                        help="int8: images to calibrate on (a folder of images, a custom dataset folder or a training YAML)")
    parser.add_argument("--calibration-images", type=at_least(1), default=32, metavar="N",
                        help="int8: how many calibration images to draw (default 32)")


def run(args: argparse.Namespace) -> int:
    """Export, verified at the requested sizes before the file is kept."""
    from ..apis.create import official_checkpoint
    from ..apis.load import is_graph_file, load
    from ..deploy.export import export_onnx, verify_onnx
    from ..models.zoo import MODEL_ZOO
    from ..optional import require

    from .common import check_calibration_flag, check_output_file, check_writable, model_bytes

    if is_graph_file(args.model):
        raise InputError(f"{args.model} is already an exported ONNX model; export starts from the model itself "
                         "(a .safetensors file, a zoo name or a model YAML)")
    check_calibration_flag(args)
    output = check_output_file(args.output, args.model, ".onnx", args.overwrite)
    sizes = [s for s in args.check_sizes if s != (0, 0)]
    unchecked = [s for s in sizes if s != tuple(args.example_size)]
    if args.fixed_size and unchecked and args.check_sizes != DEFAULT_CHECK_SIZES:
        print(f"note: a --fixed-size graph takes {args.example_size[0]}x{args.example_size[1]} inputs only, so it is "
              f"checked at that size; --check-sizes {' '.join(f'{h}x{w}' for h, w in unchecked)} not checked "
              "(set --example-size to the size it will run at)")
    require("onnx", "ONNX export")
    require("onnxscript", "ONNX export")
    if sizes:
        require("onnxruntime", "checking the export (--check-sizes none skips it)")
    checkpoint = official_checkpoint(args.checkpoint)
    if args.model in MODEL_ZOO and checkpoint is None:
        print("note: no --checkpoint given; exporting randomly initialised weights")
    loaded = load(args.model, checkpoint)
    model = loaded.model
    check_writable(output, "output", need_bytes=model_bytes(model) + (16 << 20))
    data_description = loaded.description.to_json() if loaded.description else None

    def show(size: tuple[int, int], stats) -> None:
        h, w = size
        if isinstance(stats, str):
            print(f"  {h}x{w}: ONNX Runtime failed: {stats}")
        else:
            print(f"  {h}x{w}: ‖ONNX − PyTorch‖ / ‖PyTorch‖ = {stats['norm_relative']:.1e} (max element "
                  f"{stats['max_relative']:.1e} of the largest logit), same label on {100 * stats['same_label']:.2f}% of pixels")

    example = tuple(args.example_size)  # tracing takes seconds at 256x256, minutes at thousands of pixels a side
    checked = [] if not sizes else [example] + ([] if args.fixed_size else [s for s in sizes if s != example])
    print(f"tracing at {example[0]}x{example[1]}, then checking with ONNX Runtime at "
          f"{', '.join(f'{a}x{b}' for a, b in checked) or 'no size'} …", flush=True)
    if args.precision == "int8":
        path = _export_int8(model, output, args, data_description)
        print(f"wrote {path} (int8, {path.stat().st_size / 2**20:.1f} MiB)")
        # int8 changes logits by design: its cost is measured on data (idrnet test); the figures are shown only
        for size, stats in verify_onnx(model, path, sizes) if sizes else ():
            show(size, stats)
        return 0
    path = export_onnx(model, output, args.example_size, data_description=data_description, opset=args.opset,
                       check_sizes=sizes or None, fixed_size=args.fixed_size, report=show)
    fixed = f", {args.example_size[0]}x{args.example_size[1]} inputs only" if args.fixed_size else ""
    print(f"wrote {path} (fp32{fixed}, {path.stat().st_size / 2**20:.1f} MiB)"
          + ("; agrees with PyTorch at every size above" if sizes else ""))
    return 0


def _export_int8(model, output, args: argparse.Namespace, data_description: str | None):
    """Export fp32 to a temporary file, then write its int8 copy calibrated on the user's images
    (preprocessed as `idrnet predict` would: the data description's test resize, normalisation)."""
    import tempfile
    from pathlib import Path

    from ..apis.predictor import Predictor
    from ..data.description import DataDescription
    from ..apis.calibration import calibration_files
    from ..deploy.calibration import calibration_batches
    from ..deploy.export import export_onnx
    from ..deploy.int8 import quantize_onnx

    meta = DataDescription.from_json(data_description) if data_description else None
    preprocess = Predictor(model, data=meta, backend="eager").preprocess
    batches = calibration_batches(calibration_files(args.calibration, args.calibration_images), preprocess)
    with tempfile.TemporaryDirectory(prefix="idrnet_export_") as tmp:
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", args.example_size, data_description=data_description,
                           opset=args.opset, check_sizes=None, fixed_size=args.fixed_size)
        return quantize_onnx(fp32, output, batches)
