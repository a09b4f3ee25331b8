"""Run an official zoo recipe end to end on a generated stand-in dataset in the benchmark's layout.

  python tools/smoke_official_recipe.py idrnet_aspp_resnet50os8_ade20k --iterations 2

Writes a small ADE20K-layout dataset (random 683×512 JPEG images and PNG labels with 150 classes), then
runs ``idrnet train configs/zoo/NAME.yaml`` unchanged except for the data root, the length, the
validation/checkpoint interval and ``pretrained_backbone=false`` (nothing is downloaded), with
``max_batch_per_process`` so the official total batch fits in memory. It checks that the recipe's
dataset, pipeline, optimiser and model build and train, and prints the time per iteration; the
accuracy is meaningless on random data. ADE20K-recipe models only (the stand-in layout is ADE20K's).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def write_ade20k_standin(root: Path, train: int, val: int, seed: int = 0) -> None:
    """``root/ADEChallengeData2016/{images,annotations}/{training,validation}`` with random content."""
    rng = np.random.default_rng(seed)
    for split, count in (("training", train), ("validation", val)):
        for i in range(count):
            image = root / "ADEChallengeData2016" / "images" / split / f"ADE_{split}_{i:08d}.jpg"
            label = root / "ADEChallengeData2016" / "annotations" / split / f"ADE_{split}_{i:08d}.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            label.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (512, 683, 3), dtype=np.uint8)).save(image, quality=90)
            blocks = rng.integers(0, 151, (8, 11), dtype=np.uint8)  # 0 is ADE20K's "other" (ignored)
            Image.fromarray(np.kron(blocks, np.ones((64, 64), np.uint8))[:512, :683]).save(label)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="an ADE20K zoo entry, e.g. idrnet_aspp_resnet50os8_ade20k")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--micro-batch", type=int, default=2, help="max_batch_per_process")
    parser.add_argument("--out", default="runs/smoke_official")
    args = parser.parse_args()
    config = ROOT / "configs" / "zoo" / f"{args.name}.yaml"
    if not config.is_file() or not args.name.endswith("_ade20k"):
        parser.error(f"{args.name}: expected an ADE20K zoo entry with a config in configs/zoo/")
    out = Path(args.out)
    data = out / "data"
    if not (data / "ADEChallengeData2016").is_dir():
        write_ade20k_standin(data, train=32, val=2)
    command = [
        sys.executable, "-m", "idrnet.cli.main", "train", str(config), "--work-dir", str(out / args.name),
        "--set", f"data.root={data}", "--set", f"iterations={args.iterations}",
        "--set", f"val_interval={args.iterations}", "--set", f"checkpoint_interval={args.iterations}",
        "--set", "pretrained_backbone=false", "--set", f"max_batch_per_process={args.micro_batch}",
        "--set", "data.num_workers=2",
    ]
    print(" ".join(command), flush=True)
    start = time.perf_counter()
    code = subprocess.call(command)
    seconds = time.perf_counter() - start
    print(f"{args.name}: exit {code}, {args.iterations} iterations (official total batch) + validation "
          f"in {seconds:.0f} s ({seconds / args.iterations:.0f} s per iteration including start-up)")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
