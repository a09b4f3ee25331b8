"""Does channels-last input pay off on this CPU? Times each model's ``forward_scores`` eager and
(``--compile``) under ``torch.compile`` with weight freezing, in fp32 and (``--bf16``) under bf16
autocast, with NCHW input against the same input in channels-last memory format (the weights are left
as they are), interleaved round by round, and prints how far the outputs differ from fp32 eager NCHW
(max |Δlogit|, share of same labels).

    python benchmarks/channels_last_probe.py MODEL[@HxW[xB]] ... [--threads 2] [--runs 10] [--rounds 2] [--compile] [--bf16]

MODEL is a zoo name or a model YAML (a training YAML's model section works too); weights are random
(speed does not depend on them), seeded so both layouts see the same model and input.
"""

from __future__ import annotations

import argparse

from timing import append_record, cpu_name, median_ms  # beside this script


def _parse(spec: str) -> tuple[str, int, int, int]:
    path, _, size = spec.partition("@")
    parts = [int(p) for p in (size or "512x512x1").split("x")]
    h, w, batch = (parts + [1])[:3]
    return path, h, w, batch


def main() -> int:
    import torch
    from torch._inductor import config as inductor_config

    from idrnet import create_model
    from idrnet.deploy.runtime import cpu_has_bf16

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL[@HxW[xB]]")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (freezing) both ways")
    parser.add_argument("--bf16", action="store_true", help="also time bf16 autocast both ways")
    parser.add_argument("--json", help="append one JSON line per model here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = cpu_name()
    print(f"{cpu}, {args.threads} threads, native bf16 {cpu_has_bf16()}, torch {torch.__version__}")
    for spec in args.models:
        path, h, w, batch = _parse(spec)
        torch.manual_seed(0)
        model = create_model(path, pretrained_backbone=False).eval()
        images = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(1))
        layouts = {"nchw": images, "channels_last": images.contiguous(memory_format=torch.channels_last)}
        # The model is called directly (not through idrnet's runtime, which picks the layout itself).
        paths = {}
        for dtype in (torch.float32, torch.bfloat16) if args.bf16 else (torch.float32,):
            for backend in ("eager", "compile") if args.compile else ("eager",):
                fn = torch.compile(model.forward_scores, dynamic=False) if backend == "compile" else model.forward_scores

                def call(x, fn=fn, dtype=dtype, backend=backend):
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16), \
                            inductor_config.patch(freezing=backend == "compile"):
                        return fn(x).float()
                paths[f"{'bf16' if dtype == torch.bfloat16 else 'fp32'} {backend}"] = call
        with torch.no_grad():
            outputs = {(p, lay): fn(x) for p, fn in paths.items() for lay, x in layouts.items()}  # also warms up
            times: dict[str, list[float]] = {f"{p}/{lay}": [] for p in paths for lay in layouts}
            for _ in range(args.rounds):
                for p, fn in paths.items():
                    for lay, x in layouts.items():
                        times[f"{p}/{lay}"].append(median_ms(lambda fn=fn, x=x: fn(x), args.runs, warmup=1))
        ref = outputs[("fp32 eager", "nchw")]
        record = {"model": path, "size": [h, w], "batch": batch, "threads": args.threads, "cpu": cpu, "runs": args.runs,
                  "ms_per_batch": times, "max_abs_diff": {}, "same_label": {}}
        print(f"{path} {batch}×{h}×{w}")
        for p in paths:
            nchw, cl = times[f"{p}/nchw"], times[f"{p}/channels_last"]
            ratios = " / ".join(f"×{c / n:.2f}" for n, c in zip(nchw, cl))
            print(f"  {p:13s} NCHW {' / '.join(f'{t:.1f}' for t in nchw)} ms, channels-last "
                  f"{' / '.join(f'{t:.1f}' for t in cl)} ms (channels-last / NCHW {ratios})")
            for lay in layouts:
                out = outputs[(p, lay)]
                diff = (out - ref).abs().max().item()
                same = (out.max(1).indices == ref.max(1).indices).float().mean().item()
                record["max_abs_diff"][f"{p}/{lay}"], record["same_label"][f"{p}/{lay}"] = diff, same
                if (p, lay) != ("fp32 eager", "nchw"):
                    print(f"    {p}/{lay} vs fp32 eager/nchw: max |Δlogit| {diff:.2e}, same label {same:.5f}")
        if args.json:
            append_record(args.json, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
