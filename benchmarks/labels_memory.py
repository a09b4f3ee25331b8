"""Peak memory and time of labelling a large photo: the whole full-resolution scores
(``labels_of(predict_scores(...))``, what idrnet did before) against ``predict_labels``, which resizes a
few classes at a time above its byte budget (the same labels: tests/test_evaluation.py).

  python benchmarks/labels_memory.py [--classes 150] [--size 3000x4000] [--threads 2]

Each way runs in a fresh process (peak RSS is per process) on a small IDRNet-FCN model (ResNet-18 of
width 4, so that the resize and argmax, not the network, dominate), its input at 512 on the short side
as the ADE20K recipe tests, and prints the peak resident memory and seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _child(way: str, classes: int, height: int, width: int, threads: int) -> None:
    import torch

    from idrnet import build_model
    from idrnet.config import from_dict
    from idrnet.evaluation.inference import labels_of, predict_labels, predict_scores
    from idrnet.models.config import ModelConfig

    torch.set_num_threads(threads)
    config = from_dict(ModelConfig, {
        "num_classes": classes, "backbone": {"name": "resnet18v1c", "output_stride": 8, "base_width": 4},
        "head": {"type": "idrnet", "feats_channels": 16, "transform_channels": 8}, "auxiliary": {"channels": 16}})
    torch.manual_seed(0)  # the same model in both processes
    model = build_model(config).eval()
    short = 512 / min(height, width)
    images = torch.randn(1, 3, round(height * short), round(width * short), generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    with torch.no_grad():
        if way == "whole scores":
            labels = labels_of(predict_scores(model, images, out_size=(height, width)))
        else:
            labels = predict_labels(model, images, out_size=(height, width))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    print(json.dumps({"way": way, "seconds": seconds, "peak_gib": peak, "checksum": int(labels.sum())}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=150)
    parser.add_argument("--size", default="3000x4000", help="output HxW (default 3000x4000, a 12-megapixel photo)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    if args.child:
        _child(args.child, args.classes, height, width, args.threads)
        return 0
    print(f"{args.classes} classes, output {height}x{width}, {args.threads} threads")
    results = []
    for way in ("whole scores", "predict_labels"):
        out = subprocess.run([sys.executable, __file__, "--child", way, "--classes", str(args.classes), "--size",
                              args.size, "--threads", str(args.threads)], capture_output=True, text=True, check=True)
        record = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(record)
        print(f"  {way:15s}: peak {record['peak_gib']:.2f} GiB, {record['seconds']:.1f} s")
    print("same labels:", results[0]["checksum"] == results[1]["checksum"], "(checksum of the label map)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
