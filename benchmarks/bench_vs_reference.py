"""Ours against the reference implementation (SSSegmentation 1.7.0) on this machine.

Measures, for the official DeepLabV3-IDRNet configs, with the same weights loaded into both:
  eval512   eval forward, batch 1, 512×512 (median of --repeats after one warm-up)
  train     one training step (forward + backward), batch 2, 512×512, 8 classes in the targets
  train384  the same at 384×384
  whole     whole-image eval at 1024×2048 (Cityscapes only): time and peak RSS increase
Each measurement runs in its own process so peak memory is clean. Needs the reference:
    pip install --no-deps sssegmentation==1.7.0
    pip install opencv-python-headless pandas scipy dill matplotlib
Usage:
    python benchmarks/bench_vs_reference.py [--threads 2] [--repeats 3] [--impls ours ours_compiled ours_default reference]
"ours_compiled" is the same model under torch.compile (inductor, freezing), inference only;
"ours_default" is what `idrnet test` and `Predictor` run by default on this device (fp32, backend auto).
"ours_channels_last" (training only) is the model and images in channels-last memory format (`channels_last:
true`), "ours_compiled_train" that plus the backbone and auxiliary head compiled in place (`compile: true`).
Our training measurements keep freed host memory for reuse, as `idrnet train` does (`keep_freed_memory: true`,
glibc); "ours_released_memory" is ours without that, "reference_kept_memory" the reference with it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {"idrnet_aspp_resnet50os8_ade20k": ("eval512", "train", "train384"),
           "idrnet_aspp_resnet50os8_cityscapes": ("eval512", "train", "train384", "whole")}
IMPLS = ("ours", "ours_compiled", "ours_default", "ours_channels_last", "ours_compiled_train", "ours_released_memory",
         "reference", "reference_kept_memory")
INFERENCE_ONLY = ("ours_compiled", "ours_default")
CHANNELS_LAST = ("ours_channels_last", "ours_compiled_train")
TRAINING_ONLY = (*CHANNELS_LAST, "ours_released_memory", "reference_kept_memory")
REFERENCE_CONFIGS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "official-configs.json"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reference_model(name: str, mode: str):
    from ssseg.modules.models.segmentors import BuildSegmentor

    cfg = json.loads(REFERENCE_CONFIGS.read_text())[name]
    keep = ("num_classes", "align_corners", "norm_cfg", "act_cfg", "backbone", "head", "auxiliary", "losses", "inference")
    cfg = {k: v for k, v in cfg.items() if k in keep}
    cfg.update(type="IDRNet", norm_cfg={"type": "BatchNorm2d"}, backbone=dict(cfg["backbone"], pretrained=False))
    return BuildSegmentor(cfg, mode=mode)


def make_weights(name: str, path: Path) -> None:
    """Random reference weights whose stage-1 head predicts many classes, as an official checkpoint.

    BatchNorm statistics are calibrated on random images (so features are centred and vary across
    pixels), then the stage-1 classifier is scaled up; a random head would otherwise predict one class.
    """
    import torch
    from ssseg.modules.utils import SSSegInputStructure

    torch.manual_seed(0)
    model = reference_model(name, "TRAIN")
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            images = torch.randn(2, 3, 256, 256, generator=g)
            targets = torch.randint(0, model.cfg["num_classes"], (2, 256, 256), generator=g)
            model(SSSegInputStructure(images=images, seg_targets=targets, mode="TRAIN"))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    model.eval()
    with torch.no_grad():
        k = model.class_relations_mean.shape[0]
        model.class_relations_mean.data = torch.randn(k, k, generator=g) * 0.1 + torch.eye(k)
        model.class_relations_var.data = torch.randn(k, k, generator=g) * 0.1 + torch.eye(k)
        model.dl_cls_representations.data.normal_(generator=g)
        model.decoder_stage1[4].weight.mul_(20)
        model.decoder_stage1[4].bias.zero_()
    torch.save({"model": model.state_dict()}, path)


def reference_calls(name: str, weights: str | Path):
    """The reference model loaded from ``weights``, its class count, an eval call and a training-step call."""
    import torch
    from ssseg.modules.utils import SSSegInputStructure

    model = reference_model(name, "TEST")
    model.load_state_dict(torch.load(weights, weights_only=True)["model"])

    def eval_call(x):
        return model(SSSegInputStructure(images=x, mode="TEST")).seg_logits

    def train_call(x, y):
        model(SSSegInputStructure(images=x, seg_targets=y, mode="TRAIN")).loss.backward()

    return model, model.cfg["num_classes"], eval_call, train_call


def ours_calls(name: str, weights: str | Path):
    """Our model loaded from the same ``weights``, its class count, an eval call and a training-step call."""
    import idrnet

    model = idrnet.create_model(name, checkpoint=str(weights))

    def train_call(x, y):
        idrnet.training_losses(model, x, y)["total"].backward()

    return model, model.num_classes, model.forward_logits, train_call


def inputs(task: str, num_classes: int):
    import torch

    g = torch.Generator().manual_seed(2)
    if task == "whole":
        return torch.randn(1, 3, 1024, 2048, generator=g), None
    if task == "eval512":
        return torch.randn(1, 3, 512, 512, generator=g), None
    size = 384 if task == "train384" else 512
    images = torch.randn(2, 3, size, size, generator=g)
    classes = torch.randperm(num_classes, generator=g)[:8]
    blocks = classes[torch.randint(0, 8, (2, 1, 8, 8), generator=g)].float()
    targets = torch.nn.functional.interpolate(blocks, size=(size, size))[:, 0].long()
    return images, targets


def worker(impl: str, name: str, task: str, weights: str, repeats: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    if task.startswith("train") and impl != "ours_released_memory" and (impl.startswith("ours") or impl == "reference_kept_memory"):
        # What `idrnet train` does (TrainConfig.keep_freed_memory, on by default).
        from idrnet.engine.host_memory import keep_freed_memory

        keep_freed_memory()
    if impl.startswith("ours"):
        model, k, eval_call, train_call = ours_calls(name, weights)
        if impl in CHANNELS_LAST:
            model.to(memory_format=torch.channels_last)
        if impl == "ours_compiled_train":
            for module in model.compile_parts():
                module.compile()
        if impl == "ours_default":
            from idrnet.deploy.runtime import accelerate

            eval_call = accelerate(model.eval(), "fp32", "auto").forward_logits
        if impl == "ours_compiled":
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True  # eval only: folds BatchNorm, prepacks weights
            eval_call = torch.compile(model.forward_logits)

        def stage1_classes(x):
            with torch.no_grad():
                feats = model.backbone(x)
                head = model.decode_head
                f = head.bottleneck(feats[-1])
                c = head.coarse_context_module(f)
                return int(head.decoder_stage1(c).argmax(1).unique().numel())
    else:
        model, k, eval_call, train_call = reference_calls(name, weights)
        stage1_classes = None
    x, y = inputs(task, k)
    times = []
    result: dict = {"impl": impl, "config": name, "task": task, "threads": threads}
    if impl in CHANNELS_LAST:
        x = x.contiguous(memory_format=torch.channels_last)
    if task.startswith("train"):
        if impl in INFERENCE_ONLY:
            raise SystemExit(f"{impl} measures inference only")
        model.train()
        for _ in range(2 if impl == "ours_compiled_train" else 1):
            train_call(x, y)  # warm-up (and compilation)
        for _ in range(repeats):
            model.zero_grad(set_to_none=True)
            t = time.perf_counter()
            train_call(x, y)
            times.append(time.perf_counter() - t)
        result["peak_rss_gb"] = peak_rss_bytes() / 2**30
    else:
        if impl in TRAINING_ONLY:
            raise SystemExit(f"{impl} measures training only")
        model.eval()
        with torch.no_grad():
            if task == "whole":
                # warm-up (compiles the compiled variant for this size; not timed, not in the peak)
                eval_call(x if impl in ("ours_compiled", "ours_default") else torch.randn(1, 3, 256, 512))
                base = rss_bytes()
                t = time.perf_counter()
                eval_call(x)
                times.append(time.perf_counter() - t)
                result["peak_rss_increase_gb"] = (peak_rss_bytes() - base) / 2**30
            else:
                eval_call(x)
                for _ in range(repeats):
                    t = time.perf_counter()
                    eval_call(x)
                    times.append(time.perf_counter() - t)
            if stage1_classes is not None:
                result["stage1_classes_predicted"] = stage1_classes(x[:, :, :512, :512])
    result["seconds_median"] = statistics.median(times)
    result["seconds_all"] = times
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--impls", nargs="*", default=["ours", "ours_compiled", "reference"],
                        choices=IMPLS)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--json", type=Path, help="also write all results here")
    parser.add_argument("--worker", nargs=4, metavar=("IMPL", "CONFIG", "TASK", "WEIGHTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, name, task, weights = args.worker
        print(json.dumps(worker(impl, name, task, weights, args.repeats, args.threads)))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            weights = Path(tmp) / f"{name}.pth"
            make_weights(name, weights)
            for task in CONFIGS[name]:
                if args.tasks and task not in args.tasks:
                    continue
                for impl in args.impls:
                    if impl in (INFERENCE_ONLY if task.startswith("train") else TRAINING_ONLY):
                        continue
                    cmd = [sys.executable, __file__, "--worker", impl, name, task, str(weights),
                           "--repeats", str(args.repeats), "--threads", str(args.threads)]
                    out = subprocess.run(cmd, capture_output=True, text=True)
                    if out.returncode != 0:
                        print(out.stderr[-3000:], file=sys.stderr)
                        raise SystemExit(f"{impl} {name} {task} failed")
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    results.append(r)
                    mem = f", peak +{r['peak_rss_increase_gb']:.2f} GiB" if "peak_rss_increase_gb" in r else ""
                    print(f"{name:40s} {task:8s} {impl:21s} {r['seconds_median']:7.2f} s{mem}", flush=True)
    by = {(r["config"], r["task"], r["impl"]): r for r in results}
    print("\nratios ours / reference:")
    for (name, task, impl), r in by.items():
        if impl != "reference" and (name, task, "reference") in by:
            ref = by[(name, task, "reference")]
            line = f"{name:40s} {task:8s} {impl:13s} time {r['seconds_median'] / ref['seconds_median']:.2f}x"
            if "peak_rss_increase_gb" in r:
                line += f", peak memory {r['peak_rss_increase_gb'] / ref['peak_rss_increase_gb']:.2f}x"
            kept = by.get((name, task, "reference_kept_memory"))
            if kept is not None and impl.startswith("ours"):
                line += f" (vs reference_kept_memory {r['seconds_median'] / kept['seconds_median']:.2f}x)"
            print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
