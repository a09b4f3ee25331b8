"""Evaluate a checkpoint on a dataset split: per-class table, summary, JSON results, saved predictions.

  idrnet test CONFIG --checkpoint CKPT [--split val] [--scales ...] [--flip] [--save-predictions DIR]

CONFIG is a training YAML (its data and model sections are used; configs/zoo/ has the official ones), or
a custom dataset folder, evaluated with the model --checkpoint names whole (a .safetensors or .onnx file,
or a zoo name for its published weights) at the test-time size it was trained with.
CKPT is one of our .safetensors files, an official .pth, a URL, or 'official'. Under torchrun every
process evaluates a share of the images and the confusion matrix is summed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..atomic import write_json
from ..errors import InputError
from .common import (
    add_precision_arguments, add_tta_arguments, at_least, check_calibration_flag, check_folder_name, check_not_an_input,
    check_output, check_outside, device_from_args, inference_from_args,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet test``."""
    parser.add_argument("config", help="training YAML (data + model), or a custom dataset folder")
    parser.add_argument("--checkpoint", help="weights: path, URL, or 'official' (zoo models) (required)")
    parser.add_argument("--split", help="dataset split (default: the config's val_split)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value (repeatable)")
    parser.add_argument("--out", help="results JSON (default: CHECKPOINT_STEM_results.json beside the checkpoint's run)")
    parser.add_argument("--save-predictions", metavar="DIR", help="write one label PNG per image")
    parser.add_argument("--format", choices=["train_id", "cityscapes"], default="train_id",
                        help="saved labels: train ids with the palette, or Cityscapes label ids for the server")
    parser.add_argument("--limit", type=at_least(1), help="evaluate only the first N images")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier results file / predictions folder")
    add_tta_arguments(parser)
    add_precision_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table."""
    from ..apis.create import official_checkpoint
    from ..apis.evaluation_data import dataset_folder, folder_data, not_a_dataset_folder
    from ..apis.load import MODEL_FILE_SUFFIXES, check_ignore_label, class_names_note, is_graph_file, load, load_trained
    from ..engine.config import load_train_config
    from ..engine.trainer import model_config_for
    from ..distributed import init_distributed, world_info
    from ..data.build import build_split, require_labels
    from ..evaluation.confusion import format_table
    from ..evaluation.evaluator import evaluate

    if Path(args.config).suffix.lower() in set(MODEL_FILE_SUFFIXES) - {".yaml", ".yml"}:  # a YAML is the config
        raise InputError(f"{args.config} is a model; test takes the training config first and the model as "
                         f"--checkpoint: idrnet test WORK_DIR/config.yaml --checkpoint {args.config}")
    if args.checkpoint is None:
        raise InputError("the following argument is required: --checkpoint (the model to evaluate)")
    folder = dataset_folder(args.config)
    if folder is None and Path(args.config).is_dir():
        raise not_a_dataset_folder(args.config)
    if folder is not None and (args.checkpoint == "official" or Path(args.checkpoint).suffix in (".pth", ".pt", ".bin")):
        raise InputError(f"{args.config} is a dataset folder, which names no model: give the model itself as "
                         "--checkpoint (a zoo name for its published weights, or a .safetensors/.onnx file), or, for "
                         "weights without their model, a training config naming the model as CONFIG")
    # a dataset folder names no model: the checkpoint is the whole model (a zoo name: its published weights)
    config = load_train_config(args.config, args.overrides) if folder is None else None
    data_root = folder if folder is not None else config.data.root
    out = Path(args.out) if args.out else Path(str(Path(args.checkpoint).with_suffix("")) + "_results.json") \
        if Path(args.checkpoint).is_file() else Path("test_results.json")
    check_not_an_input(out, "--out", (args.checkpoint, args.config), data_root)  # its samples: below
    check_output(out, args.overwrite)
    if args.save_predictions:
        if Path(args.save_predictions).resolve() == out.resolve():
            raise InputError(f"--save-predictions {args.save_predictions} is the results file --out {out}; "
                             "give the predictions a folder of their own")
        check_folder_name(args.save_predictions, "--save-predictions", "label PNGs", "runs/test_predictions")
        check_outside(args.save_predictions, data_root, "--save-predictions", "the dataset folder")
        check_output(args.save_predictions, args.overwrite, "--save-predictions", folder=True)
    device = device_from_args(args)
    init_distributed(device.type)
    checkpoint = official_checkpoint(args.checkpoint)
    if folder is None:  # the config read above gives its data
        data, seed = config.data, config.seed
    else:  # a dataset folder names no model: the checkpoint is the whole model, and resizes as it was trained
        loaded = load_trained(args.checkpoint, device)
        data, seed = folder_data(folder, args.overrides, [loaded.description]), 0
    split = args.split or data.val_split
    require_labels(data, split, "accuracy")
    dataset = build_split(data, split, train=False, seed=seed)
    if len(dataset) == 0:
        raise FileNotFoundError(f"no samples in split {split} under {data.root}")
    if folder is None:
        # An exported graph is the whole model. Anything else is the config's model as training built it (the
        # dataset sets its classes: a config may leave num_classes out), with these weights; a zoo name's
        # published weights are that zoo model's.
        model_source = config.model if checkpoint is True else model_config_for(config, dataset.info)
        loaded = load(checkpoint, device=device) if is_graph_file(checkpoint) else load(model_source, checkpoint, device)
    model = loaded.model
    check_not_an_input(out, "--out", samples=dataset.samples)
    if dataset.info.num_classes != model.num_classes:
        raise InputError(f"the dataset has {dataset.info.num_classes} classes, the model {model.num_classes}")
    if args.format == "cityscapes" and args.save_predictions and dataset.info.num_classes != 19:
        # the official label ids exist for Cityscapes' 19 train classes only: other ids would be written silently
        raise InputError(f"--format cityscapes writes the Cityscapes label ids of its 19 train classes; this dataset has "
                         f"{dataset.info.num_classes} classes: use --format train_id")
    check_ignore_label(loaded.description, dataset)
    note = class_names_note(loaded.description, dataset, "the checkpoint")
    if note and world_info()[0] == 0:
        print(f"idrnet test: warning: {note}", file=sys.stderr)
    model = _accelerate(model, args, seed, dataset, device)
    inference, tta = inference_from_args(args, model.config.inference)
    metrics = evaluate(model, dataset, device, inference, tta, args.save_predictions, args.format,
                       progress=True, limit=args.limit)
    if world_info()[0] != 0:
        return 0
    print(format_table(metrics, dataset.info.classes))
    record = {"config": str(args.config), "checkpoint": str(args.checkpoint), "split": split,
              "precision": getattr(model, "precision", "fp32"), "backend": getattr(model, "backend", "eager"),
              "inference": {"mode": inference.mode, "crop_size": inference.crop_size, "stride": inference.stride,
                            "probs_before_resize": inference.probs_before_resize},
              "tta": {"scales": list(tta.scales), "flip": tta.flip} if tta else None,
              "classes": list(dataset.info.classes), **metrics}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, record)
    print(f"results written to {out}")
    return 0


def _accelerate(model, args: argparse.Namespace, seed: int, dataset, device):
    """The model with --precision/--backend applied; int8 calibrates on --calibration, or by default on
    the config's training split."""
    from ..apis.calibration import accelerate_for_dataset

    check_calibration_flag(args, required=False)
    return accelerate_for_dataset(model, args.precision, args.backend, args.calibration or args.config, dataset, device,
                                  args.calibration_images, seed)
