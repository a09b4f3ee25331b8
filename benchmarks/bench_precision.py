"""Latency of every precision × backend for the official ResNet-50 configs (baseline and IDRNet), with
each path's pixel agreement with fp32 eager.

Weights are random with BatchNorm statistics calibrated on noise images, the IDRNet relation matrices
and class vectors perturbed from their initial values and the stage-1 classifier scaled so that stage 1
predicts many classes (as the parity tests and benchmarks/bench_vs_reference.py do): timing does not
depend on the weights, and agreement is measured on activations of realistic spread. int8 is
calibrated on 8 noise images of the input size (its accuracy cost on real data is measured by
benchmarks/precision_accuracy.py). Each framework and size runs in its own process, with every
combination's timed runs interleaved so that drift of a shared machine cancels in the ratios.

    python benchmarks/bench_precision.py [--frameworks UPerNet] [--sizes 384 512] [--runs 6]
        [--precisions fp32 bf16 int8] [--backends eager compile onnxruntime openvino]

Writes benchmarks/results/precision_<date>.jsonl and prints markdown tables.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _frameworks() -> dict[str, str]:
    """The four frameworks' ResNet-50 ADE20K zoo names, as benchmarks/bench_frameworks.py measures them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_frameworks", ROOT / "benchmarks" / "bench_frameworks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MODELS


MODELS = _frameworks()


def realistic_weights(model, seed: int = 0) -> None:
    """BatchNorm calibrated on noise, IDRNet statistics perturbed, stage-1 classifier sharpened."""
    import torch

    g = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 3, 256, 256, generator=g))
    for m in norms:
        m.momentum = 0.1
    model.eval()
    head = model.decode_head
    with torch.no_grad():
        if hasattr(head, "class_relations_mean"):
            k = head.class_relations_mean.shape[0]
            head.class_relations_mean.copy_(torch.randn(k, k, generator=g) * 0.1 + torch.eye(k))
            head.class_relations_var.copy_(torch.randn(k, k, generator=g) * 0.1 + torch.eye(k))
            head.dl_cls_representations.normal_(generator=g)
            classifier = [m for m in head.decoder_stage1.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            classifier.weight.mul_(20)
            classifier.bias.zero_()


def _child(model_name: str, pairs: list[tuple[str, str]], size: int, runs: int, threads: int, out: str) -> None:
    import torch

    from idrnet import create_model, get_entry
    from idrnet.deploy.bench import benchmark_pairs

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    entry = get_entry(model_name)
    models = {model_name: create_model(model_name), entry.baseline: create_model(entry.baseline)}
    for model in models.values():
        realistic_weights(model)
    results = benchmark_pairs(models, pairs, (size, size), 1, warmup=2, runs=runs, rounds=min(3, runs),
                              device="cpu", agreement=True,
                              log=lambda line: print(f"  {size}×{size}: {line}", file=sys.stderr, flush=True))
    with open(out, "a") as f:
        for r in results:
            f.write(json.dumps({**r.__dict__, "framework_model": model_name, "date": str(datetime.date.today())}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 512])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--backends", nargs="+", default=["eager", "compile", "onnxruntime", "openvino"])
    parser.add_argument("--frameworks", nargs="+", default=["UPerNet"], choices=list(MODELS))
    parser.add_argument("--out", help="JSON-lines output (default benchmarks/results/precision_<date>.jsonl)")
    parser.add_argument("--table", metavar="JSONL", help="only print the tables of an earlier results file")
    parser.add_argument("--child", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return 0
    out = args.out or str(ROOT / "benchmarks" / "results" / f"precision_{datetime.date.today()}.jsonl")
    from idrnet.deploy.runtime import runnable_pairs

    pairs = runnable_pairs(args.precisions, args.backends, report=None if getattr(args, "child", None) else print)
    if args.child:
        _child(args.child, pairs, args.size, args.runs, args.threads, out)
        return 0
    for framework in args.frameworks:
        for size in args.sizes:
            print(f"{framework} {size}×{size} …", flush=True)
            cmd = [sys.executable, __file__, "--child", MODELS[framework], "--size", str(size), "--runs", str(args.runs),
                   "--threads", str(args.threads), "--precisions", *args.precisions, "--backends", *args.backends,
                   "--out", out]
            subprocess.run(cmd, check=True)
    print(table(out))
    return 0


def table(path: str) -> str:
    """Markdown: per model and size, each combination's latency, its ratio to fp32 eager and its pixel
    agreement with fp32 eager; then the best bf16 and int8 path per row."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    groups: dict[tuple, dict[tuple, dict]] = {}
    for r in rows:
        groups.setdefault((r["framework_model"], r["name"], r["size"][0]), {})[(r["precision"], r["backend"])] = r
    names = {v: k for k, v in MODELS.items()}
    lines = ["| framework | model | size | precision | backend | ran as | latency ms | × fp32 eager | same label as fp32 |",
             "|---|---|---|---|---|---|---|---|---|"]
    best_lines = ["| framework | model | size | fp32 eager ms | best fp32 (×) | best bf16 (×) | best int8 (×) |",
                  "|---|---|---|---|---|---|---|"]
    for (framework, name, size), combos in groups.items():
        kind = "IDRNet" if name == framework else "baseline"
        eager = combos.get(("fp32", "eager"))
        base = eager["latency_ms_median"] if eager else None
        for (precision, backend), r in combos.items():
            ratio = f"×{r['latency_ms_median'] / base:.2f}" if base else "–"
            agree = f"{100 * r['same_label']:.2f} %" if r.get("same_label") is not None else "–"
            lines.append(f"| {names.get(framework, framework)} | {kind} | {size} | {precision} | {backend} | "
                         f"{r['effective_precision']} | {r['latency_ms_median']:.0f} | {ratio} | {agree} |")
        cells = []
        for precision in ("fp32", "bf16", "int8"):
            candidates = [(r["latency_ms_median"], b) for (p, b), r in combos.items() if p == precision]
            if not candidates or not base:
                cells.append("–")
                continue
            ms, backend = min(candidates)
            cells.append(f"{backend} {ms:.0f} ms (×{ms / base:.2f})")
        best_lines.append(f"| {names.get(framework, framework)} | {kind} | {size} | {base:.0f} | " + " | ".join(cells) + " |"
                          if base else f"| {framework} | {kind} | {size} | – | – | – | – |")
    return "\n".join(lines) + "\n\n" + "\n".join(best_lines)


if __name__ == "__main__":
    raise SystemExit(main())
