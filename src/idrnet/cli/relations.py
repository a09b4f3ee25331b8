"""Show what an IDRNet model learned: relation heatmap, the classes that help each class most, and for
one image the semantic groups found and the context each received.

  idrnet relations CKPT [--out DIR] [--top 3] [--max-classes 40] [--image IMG]

CKPT is one of our .safetensors files or a zoo name (its published weights are used).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..atomic import write_json
from .common import at_least


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet relations``."""
    parser.add_argument("checkpoint", help=".safetensors file or zoo name")
    parser.add_argument("--out", default="runs/relations", help="output folder (default: runs/relations; files are "
                                                               "named after the checkpoint)")
    parser.add_argument("--top", type=at_least(1), default=3, help="helpers listed per class (default 3)")
    parser.add_argument("--max-classes", type=at_least(1), default=40,
                        help="draw only the classes with the strongest relations (default 40)")
    parser.add_argument("--image", help="also explain this image (stage-1 groups and context received)")
    parser.add_argument("--data", help="custom dataset folder (or its dataset.yaml, or a training config) "
                                       "giving class names and colours")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier outputs in --out")


def run(args: argparse.Namespace) -> int:
    """Render the heatmap, print the helpers, optionally explain one image."""
    from ..apis.relations import explain_image, learned_relations, plot_image_explanation
    from ..apis.load import check_model_source, is_graph_file
    from ..apis.predictor import Predictor, to_rgb_array
    from ..models.zoo import MODEL_ZOO
    from ..visualization import plot_relation_heatmap, top_helpers

    checkpoint = True if args.checkpoint in MODEL_ZOO else None
    check_model_source(args.checkpoint)  # a file, a model folder, hf-hub:…, or a zoo name (unknown: suggestions)
    if is_graph_file(args.checkpoint):
        raise InputError(f"{args.checkpoint}: an ONNX file keeps no relation statistics; pass the .safetensors "
                         "checkpoint it was exported from")
    if args.image and not Path(args.image).is_file():
        from ..file_errors import not_a_file

        raise not_a_file(args.image, "--image")
    from .common import check_folder_name, check_not_an_input, check_output

    out, stem = Path(args.out), Path(args.checkpoint).stem
    check_folder_name(out, "--out", "the heatmap and its JSON", "runs/relations")
    for path in (out / f"{stem}_relations.png", out / f"{stem}_relations.json",
                 *([out / f"{Path(args.image).stem}_groups.png"] if args.image else [])):
        check_not_an_input(path, "--out", (args.checkpoint, args.image))
        check_output(path, args.overwrite)
    predictor = Predictor(args.checkpoint, checkpoint, data=args.data, test_scale=True, backend="eager")
    relations = learned_relations(predictor.network)
    names = predictor.class_names
    rgb = to_rgb_array(args.image) if args.image else None  # a bad image is refused before anything is written
    out.mkdir(parents=True, exist_ok=True)
    heatmap = plot_relation_heatmap(relations["mean"], names, out / f"{stem}_relations.png",
                                    title=f"{stem}: loss rise when a class is deleted",
                                    max_classes=args.max_classes)
    helpers = top_helpers(relations["mean"], names, args.top)
    if (relations["counter"] < 0.5).all():  # it starts at 1e-6 per class (as the reference), +1 per deletion
        print("note: no class of this model was ever deleted in training (its relation statistics are at their "
              "initial values: an untrained model, or one trained with learn_relations off), so nothing is learned")
    print("classes whose deletion hurts each class most (loss rise):")
    for cls, hs in helpers.items():
        print(f"  {cls}: " + (", ".join(f"{n} {v:+.4f}" for n, v in hs) if hs else "—"))
    record = {"classes": list(names), "relations_mean": relations["mean"].tolist(),
              "relations_var": relations["var"].tolist(), "deletions_per_class": relations["counter"].tolist(),
              "top_helpers": helpers}
    write_json(out / f"{stem}_relations.json", record)
    print(f"heatmap: {heatmap}")
    if rgb is not None:
        explanation = explain_image(predictor.network, predictor.preprocess(rgb))
        picture = plot_image_explanation(rgb, explanation, names, predictor.description.palette,
                                         out / f"{Path(args.image).stem}_groups.png")
        print(f"groups and context of {args.image}: {picture}")
    return 0
