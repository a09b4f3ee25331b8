"""GPU speed and memory, ours against the reference (SSSegmentation 1.7.0) in the same process and run
(issue 28): the official ADE20K DeepLabV3-IDRNet (ResNet-50, output stride 8, 150 classes) with the same
random weights in both.

  python benchmarks/gpu_bench.py --out DIR [--parts train eval compiled] [--dry-run]

- train: one training step (forward, backward, optimiser step), 512×512, batch 2 and 8, fp32 and AMP
  (fp16 autocast with a grad scaler), median of 5 after 2 warm-ups; peak max_memory_allocated.
- eval: batch 1 latency (median of 20) and batch 8 throughput at 512×512, fp32 / bf16 / fp16 (autocast),
  eager; peak memory.
- compiled: ours under torch.compile (inductor), the same eval measurements (compilation not timed).
TF32 stays at PyTorch's defaults (off for matmul, on for cuDNN convolutions) for both implementations.
Each measurement is appended to DIR/gpu_bench.jsonl as soon as it is taken, so a run cut short by its
time limit still leaves what it measured. Without the reference installed, only ours is measured and
the records say so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

NAME = "idrnet_aspp_resnet50os8_ade20k"
PRECISIONS = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


def _record(out: Path, entry: dict) -> None:
    print(json.dumps(entry), flush=True)
    with open(out / "gpu_bench.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def _cuda_time(fn, repeats: int, warmup: int) -> list[float]:
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def _models(weights: Path) -> dict:
    """name → (model, eval call, train-loss call) for ours and, when installed, the reference."""
    import torch

    from bench_vs_reference import make_weights, ours_calls, reference_calls

    made = {}
    try:
        import ssseg  # noqa: F401

        make_weights(NAME, weights)
        reference, _, reference_eval, _ = reference_calls(NAME, weights)
        from ssseg.modules.utils import SSSegInputStructure

        def reference_loss(x, y, model=reference):
            return model(SSSegInputStructure(images=x, seg_targets=y, mode="TRAIN")).loss

        made["reference"] = (reference, reference_eval, reference_loss)
        ours, _, ours_eval, _ = ours_calls(NAME, weights)
    except ImportError as err:
        print(f"reference not measured: {err}", flush=True)
        import idrnet

        torch.manual_seed(0)
        ours = idrnet.create_model(NAME, checkpoint=None)
        ours_eval = ours.forward_logits
    import idrnet

    def ours_loss(x, y, model=ours):
        return idrnet.training_losses(model, x, y)["total"]

    made["ours"] = (ours, ours_eval, ours_loss)
    return made


def _train(out: Path, made: dict, batches: list[int]) -> None:
    import torch

    from bench_vs_reference import inputs

    for impl, (model, _, loss_of) in made.items():
        model.cuda().train()
        optimiser = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        for batch in batches:
            x2, y2 = inputs("train", 150)
            x = x2.repeat(batch // 2, 1, 1, 1).cuda()
            y = y2.repeat(batch // 2, 1, 1).cuda()
            for amp in ("fp32", "amp_fp16"):
                scaler = torch.amp.GradScaler("cuda", enabled=amp != "fp32")

                def step():
                    optimiser.zero_grad(set_to_none=True)
                    with torch.autocast("cuda", dtype=torch.float16, enabled=amp != "fp32"):
                        loss = loss_of(x, y)
                    scaler.scale(loss).backward()
                    scaler.step(optimiser)
                    scaler.update()

                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                try:
                    times = _cuda_time(step, repeats=5, warmup=2)
                except torch.cuda.OutOfMemoryError as err:
                    _record(out, {"part": "train", "impl": impl, "batch": batch, "precision": amp,
                                  "error": f"out of memory: {str(err).splitlines()[0]}"})
                    continue
                _record(out, {"part": "train", "impl": impl, "batch": batch, "size": 512, "precision": amp,
                              "step_s_median": statistics.median(times), "step_s_all": times,
                              "peak_allocated_gb": torch.cuda.max_memory_allocated() / 2**30})
        model.cpu()
        torch.cuda.empty_cache()


def _eval(out: Path, made: dict, compiled: bool) -> None:
    import torch

    items = {"ours": made["ours"]} if compiled else made
    for impl, (model, eval_call, _) in items.items():
        model.cuda().eval()
        call = torch.compile(model.forward_logits) if compiled else eval_call
        for precision, dtype in PRECISIONS.items():
            for batch, repeats in ((1, 20), (8, 5)):
                x = torch.randn(batch, 3, 512, 512, generator=torch.Generator().manual_seed(3)).cuda()

                def forward():
                    with torch.no_grad(), torch.autocast("cuda", dtype=getattr(torch, dtype or "float32"),
                                                         enabled=dtype is not None):
                        call(x)

                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                times = _cuda_time(forward, repeats=repeats, warmup=3 if compiled else 2)
                entry = {"part": "eval", "impl": impl + ("_compiled" if compiled else ""), "batch": batch, "size": 512,
                         "precision": precision, "s_median": statistics.median(times),
                         "images_per_s": batch / statistics.median(times),
                         "peak_allocated_gb": torch.cuda.max_memory_allocated() / 2**30}
                if compiled:
                    entry["first_calls_s"] = time.perf_counter() - start - sum(times)
                _record(out, entry)
        model.cpu()
        torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--parts", nargs="+", default=["train", "eval", "compiled"], choices=["train", "eval", "compiled"])
    parser.add_argument("--batches", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--dry-run", action="store_true", help="say what would be measured; touch no GPU")
    args = parser.parse_args()
    if args.dry_run:
        print(f"would measure {', '.join(args.parts)} of {NAME} (batches {args.batches}) into {args.out}/gpu_bench.jsonl")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu_bench: no CUDA device", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    _record(args.out, {"part": "device", "name": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()})
    made = _models(args.out / "reference_weights.pth")
    if "train" in args.parts:
        _train(args.out, made, args.batches)
    if "eval" in args.parts:
        _eval(args.out, made, compiled=False)
    if "compiled" in args.parts:
        _eval(args.out, made, compiled=True)
    (args.out / "reference_weights.pth").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
