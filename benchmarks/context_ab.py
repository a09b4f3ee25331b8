"""Does IDRNet beat its baseline? Baseline FCN vs IDRNet-FCN and two ablations on the generated context data.

Every variant trains with the same backbone (half-width ResNet-18-V1c from scratch), recipe, data order
and seeds; only the decode head differs:

  baseline_fcn            plain FCN head (no IDRNet)
  idrnet                  IDRNet-FCN (deletion diagnostics + dataset-level class representations)
  idrnet_frozen_relations IDRNet with the relation matrices frozen at identity (no deletion diagnostics)
  idrnet_no_dataset_repr  IDRNet with the dataset-level class representations kept at zero

  python benchmarks/context_ab.py                       # full run (4 variants × 3 seeds) + docs/evidence.md
  python benchmarks/context_ab.py --report-only         # rebuild the report from finished runs

Finished runs are kept (OUT/VARIANT/seed_N/result.json) and skipped, and an interrupted run resumes
from its latest checkpoint, so the same command continues an interrupted experiment where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "configs" / "quickstart_synth_idrnet_fcn_r18.yaml"

VARIANTS: dict[str, list[str]] = {
    "baseline_fcn": [],  # the same config with IDRNet's head replaced by its baseline (see run_one)
    "idrnet": [],
    "idrnet_frozen_relations": ["model.head.learn_relations=false"],
    "idrnet_no_dataset_repr": ["model.head.use_dataset_representations=false"],
}
BASELINES = {"baseline_fcn"}
LABELS = {
    "baseline_fcn": "FCN baseline",
    "idrnet": "IDRNet-FCN",
    "idrnet_frozen_relations": "IDRNet, relations frozen at identity",
    "idrnet_no_dataset_repr": "IDRNet, no dataset-level representations",
}
# t quantiles (two-sided 95 %) for small numbers of paired seeds
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def run_one(variant: str, seed: int, out: Path, data_root: Path, iterations: int, extra: Sequence[str] = ()) -> dict:
    """Train one variant with one seed (skipped when its result exists) and return its result."""
    from idrnet.engine.config import load_train_config
    from idrnet.engine.trainer import train

    work = out / variant / f"seed_{seed}"
    result_file = work / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    overrides = [
        f"data.root={data_root}", f"seed={seed}", f"iterations={iterations}", f"work_dir={work}",
        f"val_interval={max(1, iterations // 6)}", f"checkpoint_interval={iterations}", "device=cpu",
        *VARIANTS[variant], *extra,
    ]
    config = load_train_config(BASE_CONFIG, overrides)
    if variant in BASELINES:
        # The one IDRNet→baseline mapping (IDRNet-FCN → FCN with the same widths and dropout).
        config.model = dataclasses.replace(config.model, head=config.model.head.baseline())
        overrides = [*overrides, "model.head=<IDRNet head>.baseline()"]
    # An interrupted run (Ctrl-C, SIGTERM, a crash after a checkpoint) continues from its latest.pt.
    resume = (work / "latest.pt").is_file()
    seconds_before = json.loads((work / "seconds.json").read_text())["seconds"] if (work / "seconds.json").is_file() else 0.0
    start = time.perf_counter()
    try:
        # A run stopped before its first checkpoint has nothing to resume: start it again.
        outcome = train(config, resume=resume or None, overwrite=not resume)
    finally:
        work.mkdir(parents=True, exist_ok=True)
        (work / "seconds.json").write_text(json.dumps({"seconds": seconds_before + time.perf_counter() - start}))
    seconds = seconds_before + time.perf_counter() - start
    metrics = outcome["metrics"]
    result = {"variant": variant, "seed": seed, "iterations": iterations, "train_seconds": seconds,
              "mIoU": metrics["mIoU"], "aAcc": metrics["aAcc"], "IoU": metrics["IoU"], "overrides": overrides}
    result_file.write_text(json.dumps(result, indent=1))
    return result


def relation_distance_from_identity(checkpoint: Path) -> float:
    """Largest |relations − I| entry of an IDRNet checkpoint's ``class_relations_mean``."""
    from safetensors.torch import load_file
    import torch

    rel = load_file(str(checkpoint))["decode_head.class_relations_mean"]
    return float((rel - torch.eye(rel.shape[0])).abs().max())


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else float("nan")


def _paired_ci(diffs: Sequence[float]) -> tuple[float, float, float]:
    d = np.asarray(diffs, dtype=np.float64)
    mean = float(d.mean())
    if len(d) < 2:
        return mean, float("nan"), float("nan")
    half = T95.get(len(d) - 1, 1.96) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return mean, mean - half, mean + half


def _group_miou(iou: Sequence[float], classes: Sequence[int]) -> float:
    vals = [iou[c] for c in classes if not math.isnan(iou[c])]
    return float(np.mean(vals)) if vals else float("nan")


def _curves(out: Path, variants: Sequence[str], seeds: Sequence[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(11, 4))
    for v in variants:
        losses, mious = [], []
        for s in seeds:
            log = out / v / f"seed_{s}" / "log.jsonl"
            if not log.is_file():
                continue
            records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            # a resumed run may log an iteration twice: keep the last record of each iteration
            loss_by_it = {r["iteration"]: r["loss_main"] for r in records if "loss_main" in r}
            miou_by_it = {r["iteration"]: 100 * r["val_mIoU"] for r in records if "val_mIoU" in r}
            losses.append(sorted(loss_by_it.items()))
            mious.append(sorted(miou_by_it.items()))
        for series, ax in ((losses, ax_loss), (mious, ax_miou)):
            if not series:
                continue
            n = min(len(x) for x in series)
            its = [p[0] for p in series[0][:n]]
            mean = np.mean([[p[1] for p in x[:n]] for x in series], axis=0)
            ax.plot(its, mean, label=LABELS[v])
    ax_loss.set(xlabel="iteration", ylabel="stage-2 (main) loss, mean over seeds", yscale="log")
    ax_miou.set(xlabel="iteration", ylabel="val mIoU (%), mean over seeds")
    ax_miou.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(out: Path, variants: Sequence[str], seeds: Sequence[int], docs: Path, command: str) -> str:
    """Aggregate finished runs into docs/evidence.md (+ images) and return the markdown."""
    from idrnet.data.synth import AMBIGUOUS, CLASSES
    from idrnet.visualization import plot_relation_heatmap, top_helpers

    ambiguous = sorted(AMBIGUOUS)
    rest = [c for c in range(len(CLASSES)) if c not in AMBIGUOUS]
    results = {v: {} for v in variants}
    for v in variants:
        for s in seeds:
            f = out / v / f"seed_{s}" / "result.json"
            if f.is_file():
                results[v][s] = json.loads(f.read_text())
    images = docs / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = ["| variant | seeds | mIoU (%) | context-dependent classes mIoU | other classes mIoU |",
             "|---|---|---|---|---|"]
    for v in variants:
        rs = list(results[v].values())
        if not rs:
            continue
        m, sd = _mean_std([100 * r["mIoU"] for r in rs])
        a, asd = _mean_std([100 * _group_miou(r["IoU"], ambiguous) for r in rs])
        o, osd = _mean_std([100 * _group_miou(r["IoU"], rest) for r in rs])
        lines.append(f"| {LABELS[v]} | {len(rs)} | {m:.2f} ± {sd:.2f} | {a:.2f} ± {asd:.2f} | {o:.2f} ± {osd:.2f} |")
    table = "\n".join(lines)
    timing = "Wall-clock training time per run (minutes; includes validation and anything else the machine ran): " + \
        ", ".join(f"{LABELS[v]} " + "/".join(f"{results[v][s]['train_seconds'] / 60:.1f}" for s in sorted(results[v]))
                  for v in variants if results[v])

    diff_lines = ["| variant − FCN baseline | paired seeds | ΔmIoU (95 % CI) | Δ context-dependent classes (95 % CI) |",
                  "|---|---|---|---|"]
    base = results.get("baseline_fcn", {})
    for v in variants:
        if v == "baseline_fcn":
            continue
        common = sorted(set(base) & set(results[v]))
        if not common:
            continue
        d = [100 * (results[v][s]["mIoU"] - base[s]["mIoU"]) for s in common]
        da = [100 * (_group_miou(results[v][s]["IoU"], ambiguous) - _group_miou(base[s]["IoU"], ambiguous)) for s in common]
        m, lo, hi = _paired_ci(d)
        ma, loa, hia = _paired_ci(da)
        diff_lines.append(f"| {LABELS[v]} | {len(common)} | {m:+.2f} ({lo:+.2f} … {hi:+.2f}) | {ma:+.2f} ({loa:+.2f} … {hia:+.2f}) |")
    diffs = "\n".join(diff_lines)

    per_class = ["| class | " + " | ".join(LABELS[v] for v in variants if results[v]) + " |",
                 "|---|" + "---|" * sum(1 for v in variants if results[v])]
    for c, name in enumerate(CLASSES):
        cells = []
        for v in variants:
            if results[v]:
                m, sd = _mean_std([100 * r["IoU"][c] for r in results[v].values()])
                cells.append(f"{m:.1f} ± {sd:.1f}")
        mark = " (context-dependent)" if c in AMBIGUOUS else ""
        per_class.append(f"| {name}{mark} | " + " | ".join(cells) + " |")

    _curves(out, variants, seeds, images / "evidence_curves.png")
    heat = ""
    if results.get("idrnet"):
        seed = sorted(results["idrnet"])[0]
        from safetensors.torch import load_file

        ckpt = out / "idrnet" / f"seed_{seed}" / "final.safetensors"
        rel = load_file(str(ckpt))["decode_head.class_relations_mean"]
        plot_relation_heatmap(rel, CLASSES, images / "evidence_relations.png",
                              title=f"IDRNet-FCN class relations (seed {seed})")
        helpers = top_helpers(rel, CLASSES, k=2)
        heat = "\n".join(f"- **{k}**: " + (", ".join(f"{n} ({v:+.3f})" for n, v in hs) or "none")
                         for k, hs in helpers.items())
    text = "\n\n".join([
        "# Evidence: IDRNet vs its baseline on the generated context dataset",
        "Generated by `" + command + "` (every table, figure and picture below comes from the runs it made; only the Discussion is written by hand).",
        "## Variants and mIoU\n\nmIoU on the 100 validation images, mean ± sample standard deviation over "
        "seeds. *Context-dependent classes* are the four whose label is decided by another region of the "
        "image (cup on table / in sink, bird on grass / on pond); the other seven are recognisable locally.\n\n" + table
        + "\n\n" + timing + ".",
        "## Paired difference to the baseline\n\nPaired by seed (same data order and initialisation seed); "
        "95 % interval from Student's t over the seeds.\n\n" + diffs,
        "## Per-class IoU (%)\n\n" + "\n".join(per_class),
        "## Training curves\n\n![curves](images/evidence_curves.png)",
        "## Learned relations (IDRNet-FCN)\n\nRow = deleted class, column = class whose loss rose; the "
        "diagonal (identity initialisation) is hidden.\n\n![relations](images/evidence_relations.png)\n\n"
        "Classes whose deletion hurt each class most:\n\n" + heat,
    ])
    return text


def load_results(out: Path, variants: Sequence[str], seeds: Sequence[int]) -> dict[str, dict[int, dict]]:
    """The finished runs' result.json by variant and seed."""
    return {v: {s: json.loads((out / v / f"seed_{s}" / "result.json").read_text())
                for s in seeds if (out / v / f"seed_{s}" / "result.json").is_file()} for v in variants}


def pair_tables(results: dict[str, dict[int, dict]], labels: dict[str, str], pairs: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """Markdown tables of the runs: per variant mIoU, context-dependent and other classes (mean ± sd over
    seeds) and minutes per run; per (baseline, IDRNet) pair the paired difference with its t-interval."""
    from idrnet.data.synth import AMBIGUOUS, CLASSES

    ambiguous = sorted(AMBIGUOUS)
    rest = [c for c in range(len(CLASSES)) if c not in AMBIGUOUS]
    rows = ["| model | seeds | mIoU (%) | context-dependent classes | other classes | minutes per run |", "|---|---|---|---|---|---|"]
    for v, rs in results.items():
        if rs:
            m, sd = _mean_std([100 * r["mIoU"] for r in rs.values()])
            a, asd = _mean_std([100 * _group_miou(r["IoU"], ambiguous) for r in rs.values()])
            o, osd = _mean_std([100 * _group_miou(r["IoU"], rest) for r in rs.values()])
            minutes = "/".join(f"{r['train_seconds'] / 60:.1f}" for r in rs.values())
            rows.append(f"| {labels[v]} | {len(rs)} | {m:.2f} ± {sd:.2f} | {a:.2f} ± {asd:.2f} | {o:.2f} ± {osd:.2f} | {minutes} |")
    diffs = ["| pair | paired seeds | ΔmIoU (95 % CI) | Δ context-dependent classes (95 % CI) |", "|---|---|---|---|"]
    for base, idr in pairs:
        common = sorted(set(results.get(base, {})) & set(results.get(idr, {})))
        if common:
            d = [100 * (results[idr][s]["mIoU"] - results[base][s]["mIoU"]) for s in common]
            da = [100 * (_group_miou(results[idr][s]["IoU"], ambiguous) - _group_miou(results[base][s]["IoU"], ambiguous))
                  for s in common]
            (m, lo, hi), (ma, loa, hia) = _paired_ci(d), _paired_ci(da)
            diffs.append(f"| {labels[idr]} − {labels[base]} | {len(common)} | {m:+.2f} ({lo:+.2f} … {hi:+.2f}) | "
                         f"{ma:+.2f} ({loa:+.2f} … {hia:+.2f}) |")
    return "\n".join(rows), "\n".join(diffs)


def run_all(run: Callable[..., dict], variants: Sequence[str], seeds: Sequence[int], out: Path, data: Path,
            iterations: int, extra: Sequence[str]) -> None:
    """Write the generated dataset if missing, then train every (seed, variant) with ``run`` —
    seed-major, so a partial experiment already has complete pairs."""
    if not (data / "dataset.yaml").is_file():
        from idrnet.data.synth import write_synthetic_dataset

        write_synthetic_dataset(data, num_train=400, num_val=100, size=128, seed=0)
    for seed in seeds:
        for v in variants:
            r = run(v, seed, out, data, iterations, extra)
            print(f"{v} seed {seed}: mIoU {100 * r['mIoU']:.2f} ({r['train_seconds'] / 60:.1f} min)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/context_ab", help="experiment folder (finished runs are reused)")
    parser.add_argument("--data", default="data/synth", help="generated dataset (written if missing)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where evidence.md and its images go")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--notes", default=str(ROOT / "benchmarks" / "context_ab_notes.md"),
                        help="hand-written discussion appended to the report (default benchmarks/context_ab_notes.md)")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config override for every run")
    args = parser.parse_args(argv)
    out, data = Path(args.out), Path(args.data)
    if not args.report_only:
        run_all(run_one, args.variants, args.seeds, out, data, args.iterations, args.extra)
    shown = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--report-only"]
    command = "python benchmarks/context_ab.py " + " ".join(shown)
    text = report(out, args.variants, args.seeds, Path(args.docs), command.strip())
    if args.notes and Path(args.notes).is_file():
        text += "\n\n## Discussion (written by hand, from the figures above)\n\n" + Path(args.notes).read_text().strip()
    (Path(args.docs) / "evidence.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
