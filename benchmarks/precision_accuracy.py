"""Accuracy cost of each precision × backend on trained models: mIoU on the validation split and the
share of pixels labelled as fp32 eager labels them.

By default the models are the FCN baseline and IDRNet-FCN of benchmarks/context_ab.py (3 seeds each,
trained on the generated context dataset); int8 is calibrated on 32 images of each run's training split
(never on the validation images it is judged on).

    python benchmarks/precision_accuracy.py [--runs runs/context_ab] [--variants baseline_fcn idrnet]
        [--seeds 0 1 2] [--precisions fp32 bf16 int8] [--backends eager compile onnxruntime openvino]

Writes benchmarks/results/precision_accuracy_<date>.jsonl and prints markdown tables.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"baseline_fcn": "FCN baseline", "idrnet": "IDRNet-FCN"}


def measure(run: Path, pairs: list[tuple[str, str]], calibration_images: int) -> list[dict]:
    """mIoU and agreement with fp32 eager of every pair, for one trained run folder."""
    import numpy as np
    import torch

    from idrnet import create_model
    from idrnet.data.build import build_split
    from idrnet.apis.calibration import calibration_files
    from idrnet.deploy.calibration import calibration_batches
    from idrnet.deploy.runtime import accelerate
    from idrnet.engine.config import load_train_config
    from idrnet.evaluation.evaluator import evaluate

    config = load_train_config(run / "config.yaml", [])
    dataset = build_split(config.data, config.data.val_split, train=False, seed=config.seed)
    model = create_model(str(run / "final.safetensors")).eval()

    def preprocess(rgb: np.ndarray) -> torch.Tensor:
        return dataset.pipeline({"id": "calibration", "image": rgb}, np.random.default_rng(0))["image"].unsqueeze(0)

    files = calibration_files(run / "config.yaml", calibration_images, config.seed)
    calibration = calibration_batches(files, preprocess)
    reference: dict[int, torch.Tensor] = {}
    evaluate(model, dataset, image_hook=lambda i, prediction, label: reference.__setitem__(i, prediction.clone()))
    results = []
    for precision, backend in pairs:
        runner = accelerate(model, precision, backend, calibration if precision == "int8" else None)
        same, total = [0], [0]

        def agree(i: int, prediction: torch.Tensor, label: torch.Tensor) -> None:
            same[0] += int((prediction == reference[i]).sum())
            total[0] += prediction.numel()

        metrics = evaluate(runner, dataset, image_hook=agree)
        results.append({"run": str(run), "precision": precision, "backend": backend,
                        "ran_as": getattr(runner, "effective_precision", getattr(runner, "precision", precision)),
                        "mIoU": 100 * float(metrics["mIoU"]), "same_label": same[0] / total[0]})
        print(f"{run}: {precision} {backend}: mIoU {results[-1]['mIoU']:.2f}, same label {100 * results[-1]['same_label']:.3f} %",
              flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/context_ab")
    parser.add_argument("--variants", nargs="+", default=list(LABELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--backends", nargs="+", default=["eager", "compile", "onnxruntime", "openvino"])
    parser.add_argument("--calibration-images", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="JSON-lines output (default benchmarks/results/precision_accuracy_<date>.jsonl)")
    parser.add_argument("--table", metavar="JSONL", help="only print the tables of an earlier results file")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return 0
    import torch

    from idrnet.deploy.runtime import runnable_pairs

    torch.set_num_threads(args.threads)
    pairs = runnable_pairs(args.precisions, args.backends)
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"precision_accuracy_{datetime.date.today()}.jsonl")
    for variant in args.variants:
        for seed in args.seeds:
            run = Path(args.runs) / variant / f"seed_{seed}"
            if not (run / "final.safetensors").is_file():
                raise FileNotFoundError(f"{run}/final.safetensors: train it first (python benchmarks/context_ab.py)")
            with open(out, "a") as f:
                for record in measure(run, pairs, args.calibration_images):
                    f.write(json.dumps({**record, "variant": variant, "seed": seed}) + "\n")
    print(table(str(out)))
    return 0


def table(path: str) -> str:
    """Markdown: mIoU (mean ± sd over seeds), its change from fp32 eager (paired by seed) and agreement."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    by: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        by.setdefault((r["variant"], r["precision"], r["backend"]), {})[r["seed"]] = r
    lines = ["| model | precision | backend | ran as | seeds | mIoU (%) | Δ vs fp32 eager (paired) | same label as fp32 eager |",
             "|---|---|---|---|---|---|---|---|"]
    for (variant, precision, backend), seeds in by.items():
        base = by.get((variant, "fp32", "eager"), {})
        values = [seeds[s]["mIoU"] for s in sorted(seeds)]
        deltas = [seeds[s]["mIoU"] - base[s]["mIoU"] for s in sorted(seeds) if s in base]
        sd = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
        delta = f"{statistics.mean(deltas):+.2f} (worst {min(deltas):+.2f})" if deltas else "–"
        agree = min(seeds[s]["same_label"] for s in seeds)
        ran = seeds[min(seeds)]["ran_as"]
        lines.append(f"| {LABELS.get(variant, variant)} | {precision} | {backend} | {ran} | {len(values)} | "
                     f"{statistics.mean(values):.2f}{sd} | {delta} | ≥ {100 * agree:.2f} % |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
