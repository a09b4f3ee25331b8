"""Baseline vs IDRNet for each framework (FCN, PSPNet, DeepLabV3, UPerNet; ResNet-50-D8, ADE20K heads),
eager vs torch.compile vs ONNX Runtime, at 512×512, batch 1.

Each framework runs in its own process, which measures the IDRNet model and its official baseline on
every backend with their timed runs interleaved (``idrnet bench --vs-baseline --backend ...``'s
protocol), so that drift of a shared machine cancels in both ratios (IDRNet / baseline and
backend / eager). Peak memory is the RSS growth during each model's own runs (see docs/benchmarks.md).
Runs unchanged on a CUDA machine (--device cuda; ONNX Runtime then needs onnxruntime-gpu).

    python benchmarks/bench_frameworks.py [--threads 2] [--runs 6] [--backends eager compile onnxruntime]
Writes benchmarks/results/frameworks_<device>_<date>.jsonl and prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "FCN": "idrnet_fcn_resnet50os8_ade20k",
    "PSPNet": "idrnet_ppm_resnet50os8_ade20k",
    "DeepLabV3": "idrnet_aspp_resnet50os8_ade20k",
    "UPerNet": "idrnet_upernet_resnet50os8_ade20k",
}


def _child(model: str, backends: list[str], size: int, runs: int, threads: int, device: str, out: str) -> None:
    import torch

    from idrnet import create_model, get_entry
    from idrnet.deploy.bench import benchmark

    torch.set_num_threads(threads)
    entry = get_entry(model)
    idr = create_model(model)
    base = create_model(entry.baseline)  # the official baseline of the same recipe
    results = benchmark({model: idr, entry.baseline: base}, (size, size), 1, backends, warmup=2, runs=runs,
                        rounds=min(3, runs), device=device)
    with open(out, "a") as f:
        for r in results:
            f.write(json.dumps({**r.__dict__, "framework_model": model}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backends", nargs="+", default=["eager", "compile", "onnxruntime"])
    parser.add_argument("--frameworks", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--out", help="JSON-lines output (default benchmarks/results/frameworks_<device>_<date>.jsonl)")
    parser.add_argument("--child", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = args.out or str(ROOT / "benchmarks" / "results" / f"frameworks_{args.device}_{datetime.date.today()}.jsonl")
    if args.child:
        _child(args.child, args.backends, args.size, args.runs, args.threads, args.device, out)
        return 0
    for framework in args.frameworks:
        print(f"{framework}: {', '.join(args.backends)} …", flush=True)
        cmd = [sys.executable, __file__, "--child", MODELS[framework], "--backends", *args.backends,
               "--threads", str(args.threads), "--runs", str(args.runs), "--size", str(args.size),
               "--device", args.device, "--out", out]
        subprocess.run(cmd, check=True)
    print(table(out))
    return 0


def table(path: str) -> str:
    """Markdown table from a results file: one row per framework and backend."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    by = {}
    for r in rows:
        by.setdefault((r["framework_model"], r["backend"]), {})[r["name"] == r["framework_model"]] = r
    lines = ["| framework | backend | baseline ms | IDRNet ms | IDRNet / baseline | baseline GFLOPs | IDRNet GFLOPs "
             "| baseline peak MiB | IDRNet peak MiB | params M (base → IDRNet) |", "|---|---|---|---|---|---|---|---|---|---|"]
    names = {v: k for k, v in MODELS.items()}
    for (model, backend), pair in by.items():
        if True not in pair or False not in pair:
            continue
        i, b = pair[True], pair[False]
        lines.append(f"| {names.get(model, model)} | {backend} | {b['latency_ms_median']:.0f} | {i['latency_ms_median']:.0f} "
                     f"| ×{i['latency_ms_median'] / b['latency_ms_median']:.2f} | {b['gflops']:.0f} | {i['gflops']:.0f} "
                     f"| {b['peak_memory_mib']:.0f} | {i['peak_memory_mib']:.0f} | {b['params_m']:.1f} → {i['params_m']:.1f} |")
    lines += ["", "| framework | model | eager ms | compile ms (× eager) | onnxruntime ms (× eager) |", "|---|---|---|---|---|"]
    for (model, backend), pair in by.items():
        if backend != "eager":
            continue
        for is_idr, label in ((False, "baseline"), (True, "IDRNet")):
            if is_idr not in pair:
                continue
            eager = pair[is_idr]["latency_ms_median"]
            cells = []
            for other in ("compile", "onnxruntime"):
                r = by.get((model, other), {}).get(is_idr)
                cells.append(f"{r['latency_ms_median']:.0f} (×{r['latency_ms_median'] / eager:.2f})" if r else "–")
            lines.append(f"| {names.get(model, model)} | {label} | {eager:.0f} | {' | '.join(cells)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
