"""A/B-test two models on the same data: mIoU difference with a bootstrap interval, per-class deltas,
and a gallery of the images where they disagree most.

  idrnet compare MODEL_A MODEL_B --data CONFIG [--out DIR (default runs/compare/A_vs_B)] [--gallery 8] [--resamples 1000]

MODEL_A/MODEL_B are our .safetensors files (typically a baseline and its IDRNet version) or zoo names
(their published weights are used). CONFIG is a training YAML whose data section (and val split) is
evaluated, or a custom dataset folder (resized at test time as the models were trained).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import InputError
from ..atomic import write_json
from .common import add_tta_arguments, at_least, check_folder_name, check_not_an_input, check_output, device_from_args, inference_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet compare``."""
    parser.add_argument("model_a", help="model A (.safetensors or zoo name), usually the baseline")
    parser.add_argument("model_b", help="model B (.safetensors or zoo name), usually the IDRNet model")
    parser.add_argument("--data", required=True, help="training YAML whose data section is evaluated, or a custom "
                                                      "dataset folder")
    parser.add_argument("--split", help="dataset split (default: the config's val_split)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", help="output folder: results JSON and gallery (default: runs/compare/A_vs_B, "
                                       "named after the two models)")
    parser.add_argument("--gallery", type=at_least(0), default=8, help="how many most-disagreeing images to draw (default 8)")
    parser.add_argument("--resamples", type=at_least(10), default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--limit", type=at_least(1), help="only the first N images")
    parser.add_argument("--names", nargs=2, metavar=("A", "B"), help="labels of the two models in the report and gallery")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier report in --out")
    add_tta_arguments(parser)


def default_compare_dir(model_a: str, model_b: str) -> Path:
    """``runs/compare/<A>_vs_<B>``, after the labels that tell the two models apart: never the current
    folder, and a different folder for another pair."""
    from ..apis.load import distinct_names

    a, b = (re.sub(r"[^A-Za-z0-9._-]+", "-", n).strip("-") for n in distinct_names(model_a, model_b))
    return Path("runs") / "compare" / f"{a}_vs_{b}"


def run(args: argparse.Namespace) -> int:
    """Compare and write the report."""
    from ..apis.evaluation_data import dataset_folder, evaluation_data
    from ..apis.load import check_ignore_label, class_names_note, distinct_names, load_trained, same_weights_note
    from ..data.build import build_split, require_labels
    from ..evaluation.compare import compare_models, format_comparison, write_gallery

    if args.names and args.names[0] == args.names[1]:
        raise InputError(f"--names {args.names[0]} {args.names[1]}: the report and gallery tell the models apart by "
                         "these names; give each its own")
    out = Path(args.out) if args.out else default_compare_dir(args.model_a, args.model_b)
    check_folder_name(out, "--out", "compare.json and the gallery", "runs/compare/mine")
    check_output(out / "compare.json", args.overwrite)
    # a dataset folder is resized as the models were trained: their stored descriptions say how
    loaded = (load_trained(args.model_a), load_trained(args.model_b)) if dataset_folder(args.data) else None
    data, seed = evaluation_data(args.data, args.overrides, [m.description for m in loaded] if loaded else ())
    split = args.split or data.val_split
    require_labels(data, split, "the comparison")
    dataset = build_split(data, split, train=False, seed=seed)
    check_not_an_input(out / "compare.json", "--out", data_root=data.root, samples=dataset.samples)
    check_not_an_input(out / "gallery", "--out", samples=dataset.samples)
    if len(dataset) == 0:
        raise FileNotFoundError(f"no samples in split {split} under {data.root}")
    loaded_a, loaded_b = loaded or (load_trained(args.model_a), load_trained(args.model_b))
    model_a, model_b = loaded_a.model, loaded_b.model
    for name, loaded in (("A", loaded_a), ("B", loaded_b)):
        if loaded.model.num_classes != dataset.info.num_classes:
            raise InputError(f"model {name} has {loaded.model.num_classes} classes, the dataset {dataset.info.num_classes}")
        check_ignore_label(loaded.description, dataset)
        note = class_names_note(loaded.description, dataset, f"model {name}")
        if note:
            print(f"idrnet compare: warning: {note}", file=sys.stderr)
    same = same_weights_note(model_a, model_b)
    if same:
        print(f"idrnet compare: warning: {same}", file=sys.stderr)
    inference_a, tta = inference_from_args(args, model_a.config.inference)
    inference_b, _ = inference_from_args(args, model_b.config.inference)
    result = compare_models(model_a, model_b, dataset, device_from_args(args), inference_a, inference_b, tta,
                            args.gallery, args.resamples, limit=args.limit, progress=True)
    names = tuple(args.names) if args.names else distinct_names(args.model_a, args.model_b)
    print(format_comparison(result, names))
    gallery = out / "gallery"
    if gallery.is_dir():  # --overwrite: the old gallery's pictures would mix with the new ones
        for old in gallery.glob("*.png"):
            old.unlink()
    paths = write_gallery(result, dataset, out / "gallery", names) if args.gallery else []
    record = {k: v for k, v in result.items() if k != "disagreements"}
    record["model_a"], record["model_b"] = args.model_a, args.model_b
    record["classes"] = list(dataset.info.classes)
    record["gallery"] = [str(p) for p in paths]
    out.mkdir(parents=True, exist_ok=True)  # with --gallery 0 nothing else makes it
    write_json(out / "compare.json", record)
    print(f"report: {out / 'compare.json'}; " + (f"gallery of the {len(paths)} most-disagreeing images: {out / 'gallery'}"
                                                  if paths else "no gallery (--gallery 0)"))
    return 0
