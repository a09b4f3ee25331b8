"""Where the time goes: operator-level CPU profiles that bound the speed ratios in docs/benchmarks.md.

    python benchmarks/profile_ops.py eval MODEL [--backend eager|compile]
        one 512×512 eval forward of a zoo model (random weights), mean of 2 profiled runs
    python benchmarks/profile_ops.py vs-reference IMPL CONFIG TASK
        IMPL ours|reference, TASK train|whole, with the weights and inputs of bench_vs_reference.py
        (needs the reference installed, see that script)

Prints one JSON line: wall time of the profiled call(s), total self time, the time in convolutions
(forward and backward) and in matrix products / attention, and the top operators. Convolutions are
the same oneDNN kernels in eager PyTorch, the compiled graph and the reference, so their share is a
floor for what any implementation of the same fp32 function can reach on this machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

CONV = ("aten::mkldnn_convolution", "aten::convolution_backward", "mkldnn::_convolution_pointwise",
        "mkldnn::_convolution_pointwise_", "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward")
MATMUL = ("aten::bmm", "aten::mm", "aten::addmm", "aten::baddbmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
          "aten::_scaled_dot_product_flash_attention_for_cpu_backward")


def _summary(prof, wall: float, calls: int, **info) -> dict:
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e6 / calls
    conv = sum(e.self_cpu_time_total for e in events if e.key in CONV) / 1e6 / calls
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL) / 1e6 / calls
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:10]
    return {**info, "wall_s": wall / calls, "self_s": total, "conv_s": conv, "matmul_attention_s": matmul,
            "conv_share_of_self": conv / total,
            "top": [(e.key, round(e.self_cpu_time_total / 1e6 / calls, 3), e.count // calls) for e in top]}


def profile_eval(model_name: str, backend: str) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    import idrnet

    model = idrnet.create_model(model_name).eval()
    x = torch.randn(1, 3, 512, 512)
    run = model
    if backend == "compile":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        run = torch.compile(model, dynamic=False)
    with torch.no_grad():
        for _ in range(2):
            run(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t = time.perf_counter()
            for _ in range(2):
                run(x)
            wall = time.perf_counter() - t
    return _summary(prof, wall, 2, model=model_name, backend=backend, task="eval512")


def profile_vs_reference(impl: str, config: str, task: str) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_vs_reference as bench

    weights = Path(tempfile.gettempdir()) / f"idrnet_profile_{config}.pth"
    if not weights.exists():
        bench.make_weights(config, weights)
    calls = bench.reference_calls if impl == "reference" else bench.ours_calls
    model, k, evaluate, train = calls(config, weights)
    x, y = bench.inputs(task, k)
    if task == "train":
        model.train()
        train(x, y)
        model.zero_grad(set_to_none=True)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t = time.perf_counter()
            train(x, y)
            wall = time.perf_counter() - t
    else:
        model.eval()
        with torch.no_grad():
            evaluate(torch.randn(1, 3, 256, 512))
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                t = time.perf_counter()
                evaluate(x)
                wall = time.perf_counter() - t
    return _summary(prof, wall, 1, impl=impl, config=config, task=task)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    sub = parser.add_subparsers(dest="what", required=True)
    ev = sub.add_parser("eval")
    ev.add_argument("model")
    ev.add_argument("--backend", choices=("eager", "compile"), default="eager")
    vs = sub.add_parser("vs-reference")
    vs.add_argument("impl", choices=("ours", "reference"))
    vs.add_argument("config")
    vs.add_argument("task", choices=("train", "whole"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    result = profile_eval(args.model, args.backend) if args.what == "eval" else profile_vs_reference(args.impl, args.config, args.task)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
