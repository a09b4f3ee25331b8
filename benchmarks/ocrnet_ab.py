"""Evidence for IDRNet on OCRNet: OCRNet against IDRNet-OCRNet (HRNetV2-W18-Small from scratch) on the
generated context dataset, with the recipe and seeds of benchmarks/context_ab.py.

  python benchmarks/ocrnet_ab.py [--seeds 0 1 2] [--iterations 600] [--out runs/ocrnet_ab]

Both variants use the quickstart recipe (128×128 crops, batch 8, SGD lr 0.02, poly, 600 iterations) with
the backbone replaced by HRNetV2-W18-Small and the head by IDRNet with OCR context (``context: ocr``,
the quickstart's widths: 128 features, 64 transform channels, a 64-channel object-region FCN); the
baseline is that head's ``baseline()``, the OCRNet head of the same widths. Finished runs are reused and
an interrupted one resumes. Writes the tables to docs/ocrnet_evidence.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "configs" / "quickstart_synth_idrnet_fcn_r18.yaml"
MODEL = ["model.backbone.name=hrnetv2_w18_small", "model.backbone.base_width=64", "model.head.context=ocr", "model.head.regions_channels=64",
         "model.auxiliary=null"]
VARIANTS = {"ocrnet": "OCRNet (HRNetV2-W18-Small)", "idrnet_ocrnet": "IDRNet-OCRNet (HRNetV2-W18-Small)"}


def _helpers():
    """The statistics helpers and the run loop of benchmarks/context_ab.py."""
    spec = importlib.util.spec_from_file_location("context_ab", ROOT / "benchmarks" / "context_ab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(variant: str, seed: int, out: Path, data_root: Path, iterations: int, extra: Sequence[str] = ()) -> dict:
    """Train one variant with one seed (reused when its result exists) and return its result."""
    from idrnet.engine.config import load_train_config
    from idrnet.engine.trainer import train

    work = out / variant / f"seed_{seed}"
    result_file = work / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    overrides = [*MODEL, f"data.root={data_root}", f"seed={seed}", f"iterations={iterations}", f"work_dir={work}",
                 f"val_interval={iterations}", f"checkpoint_interval={max(1, iterations // 3)}", "device=cpu", *extra]
    config = load_train_config(BASE_CONFIG, overrides)
    if variant == "ocrnet":
        config.model = dataclasses.replace(config.model, head=config.model.head.baseline())
        overrides.append("model.head=<IDRNet head>.baseline()")
    resume = (work / "latest.pt").is_file()
    start = time.perf_counter()
    outcome = train(config, resume=resume or None, overwrite=not resume)
    metrics = outcome["metrics"]
    result = {"variant": variant, "seed": seed, "iterations": iterations, "train_seconds": time.perf_counter() - start,
              "mIoU": metrics["mIoU"], "IoU": metrics["IoU"], "overrides": overrides}
    result_file.write_text(json.dumps(result, indent=1))
    return result


def report(out: Path, seeds: Sequence[int], command: str) -> str:
    """The markdown tables of the finished runs."""
    from idrnet.data.synth import AMBIGUOUS, CLASSES

    ab = _helpers()
    ambiguous = sorted(AMBIGUOUS)
    rest = [c for c in range(len(CLASSES)) if c not in AMBIGUOUS]
    results = {v: {s: json.loads((out / v / f"seed_{s}" / "result.json").read_text())
                   for s in seeds if (out / v / f"seed_{s}" / "result.json").is_file()} for v in VARIANTS}
    rows = ["| model | seeds | mIoU (%) | context-dependent classes | other classes | minutes per run |", "|---|---|---|---|---|---|"]
    for v, rs in results.items():
        if rs:
            m, sd = ab._mean_std([100 * r["mIoU"] for r in rs.values()])
            a, asd = ab._mean_std([100 * ab._group_miou(r["IoU"], ambiguous) for r in rs.values()])
            o, osd = ab._mean_std([100 * ab._group_miou(r["IoU"], rest) for r in rs.values()])
            minutes = "/".join(f"{r['train_seconds'] / 60:.1f}" for r in rs.values())
            rows.append(f"| {VARIANTS[v]} | {len(rs)} | {m:.2f} ± {sd:.2f} | {a:.2f} ± {asd:.2f} | {o:.2f} ± {osd:.2f} | {minutes} |")
    common = sorted(set(results["ocrnet"]) & set(results["idrnet_ocrnet"]))
    diffs = ["| pair | paired seeds | ΔmIoU (95 % CI) | Δ context-dependent classes (95 % CI) |", "|---|---|---|---|"]
    if common:
        d = [100 * (results["idrnet_ocrnet"][s]["mIoU"] - results["ocrnet"][s]["mIoU"]) for s in common]
        da = [100 * (ab._group_miou(results["idrnet_ocrnet"][s]["IoU"], ambiguous)
                     - ab._group_miou(results["ocrnet"][s]["IoU"], ambiguous)) for s in common]
        (m, lo, hi), (ma, loa, hia) = ab._paired_ci(d), ab._paired_ci(da)
        diffs.append(f"| IDRNet-OCRNet − OCRNet | {len(common)} | {m:+.2f} ({lo:+.2f} … {hi:+.2f}) | "
                     f"{ma:+.2f} ({loa:+.2f} … {hia:+.2f}) |")
    return "\n\n".join([
        "# Evidence: OCRNet against IDRNet-OCRNet on the generated context dataset",
        f"Generated by `{command}`; every number below comes from the runs it made.",
        "## mIoU on the 100 validation images (mean ± sd over seeds)\n\n" + "\n".join(rows),
        "## Paired difference (by seed; Student's t over seeds)\n\n" + "\n".join(diffs),
    ]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ocrnet_ab")
    parser.add_argument("--data", default="data/synth", help="generated dataset (written if missing)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--doc", default=str(ROOT / "docs" / "ocrnet_evidence.md"))
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config override for every run")
    args = parser.parse_args(argv)
    out, data = Path(args.out), Path(args.data)
    _helpers().run_all(run_one, args.variants, args.seeds, out, data, args.iterations, args.extra)
    command = "python benchmarks/ocrnet_ab.py " + " ".join(sys.argv[1:] if argv is None else argv)
    Path(args.doc).write_text(report(out, args.seeds, command.strip()))
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
