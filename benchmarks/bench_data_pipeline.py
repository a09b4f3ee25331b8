"""Images/s of the ADE20K 512×512 training pipeline with DataLoader workers, on generated images.

Writes JPEG images and PNG labels of ADE20K's typical size (683×512) in the ADE20K layout into a
temporary folder, then times the official training pipeline through a DataLoader.
Usage: python benchmarks/bench_data_pipeline.py [--workers 2] [--images 64] [--samples 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from idrnet.data.datasets.benchmarks import build_benchmark
from idrnet.data.official import RECIPES


def write_fake_ade20k(root: Path, n: int) -> None:
    base = root / "ADEChallengeData2016"
    (base / "images/training").mkdir(parents=True)
    (base / "annotations/training").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        # smooth image content compresses like a photo, blocky labels with ~10 classes
        small = rng.integers(0, 255, (16, 22, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((683, 512), Image.BILINEAR)
        image.save(base / f"images/training/ADE_train_{i:08d}.jpg", quality=90)
        blocks = rng.integers(0, 151, (8, 11), dtype=np.uint8)
        Image.fromarray(blocks).resize((683, 512), Image.NEAREST).save(base / f"annotations/training/ADE_train_{i:08d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        write_fake_ade20k(Path(tmp), args.images)
        dataset = build_benchmark("ade20k", tmp, "train", pipeline=RECIPES["ade20k_512x512"].train())
        sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=args.samples,
                                                 generator=torch.Generator().manual_seed(0))
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=args.batch, sampler=sampler, num_workers=args.workers,
            collate_fn=lambda b: (torch.stack([s["image"] for s in b]), torch.stack([s["label"] for s in b])),
            persistent_workers=False,
        )
        it = iter(loader)
        next(it)  # start-up of the workers is not counted
        start, count = time.perf_counter(), args.batch
        for images, labels in it:
            count += images.shape[0]
        elapsed = time.perf_counter() - start
        done = count - args.batch
        print(f"ADE20K 512x512 train pipeline, {args.workers} workers, batch {args.batch}: "
              f"{done / elapsed:.1f} images/s ({done} images in {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
