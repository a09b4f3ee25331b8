"""Overhead of idrnet.attach on models teams already have: parameters and eager CPU latency.

  python benchmarks/bench_dropin.py [--size 512] [--runs 5] [--classes 19]

Prints, for SMP Unet (ResNet-18), torchvision DeepLabV3-MobileNetV3 and FCN-ResNet-50, the parameter
counts, GFLOPs per image (PyTorch's FlopCounterMode) and the median latency of the original and the attached model (batch 1, random weights, one
warm-up run each, official IDRNet widths).
"""

from __future__ import annotations

import argparse
import time

import torch


def _median_seconds(model: torch.nn.Module, x: torch.Tensor, runs: int) -> float:
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    import segmentation_models_pytorch as smp
    import torchvision

    import idrnet
    from idrnet.deploy.bench import count_gflops

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--classes", type=int, default=19)
    args = parser.parse_args()
    k, seg = args.classes, torchvision.models.segmentation
    models = {
        "SMP Unet (ResNet-18)": lambda: smp.Unet("resnet18", encoder_weights=None, classes=k),
        "torchvision DeepLabV3-MobileNetV3": lambda: seg.deeplabv3_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=k),
        "torchvision FCN-ResNet-50": lambda: seg.fcn_resnet50(weights=None, weights_backbone=None, num_classes=k),
    }
    print(f"{torch.get_num_threads()} threads, batch 1, {args.size}x{args.size}, {k} classes, median of {args.runs}")
    x = torch.randn(1, 3, args.size, args.size)
    for name, make in models.items():
        base, attached = make().eval(), idrnet.attach(make(), k).eval()
        p0 = sum(p.numel() for p in base.parameters()) / 1e6
        p1 = sum(p.numel() for p in attached.parameters()) / 1e6
        t0, t1 = _median_seconds(base, x, args.runs), _median_seconds(attached, x, args.runs)
        g0, g1 = count_gflops(base, x), count_gflops(attached, x)
        print(f"| {name} | {p0:.2f} M → {p1:.2f} M (+{p1 - p0:.2f} M) | {g0:.1f} → {g1:.1f} (×{g1 / g0:.2f}) | "
              f"{1000 * t0:.0f} → {1000 * t1:.0f} ms (×{t1 / t0:.2f}) |")


if __name__ == "__main__":
    main()
