"""Render docs/images/predict_overlay.png (README) with the public API: Predictor predictions on
generated validation images, as overlays beside the ground truth.

    python tools/render_readme_images.py runs/context_ab/idrnet/seed_0/final.safetensors data/synth
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from idrnet import Predictor
from idrnet.data.labels import read_image
from idrnet.visualization import overlay, side_by_side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("data", help="generated dataset folder")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--out", default="docs/images/predict_overlay.png")
    args = parser.parse_args()
    seg = Predictor(args.checkpoint, data=args.data)  # class names and colours from dataset.yaml
    images = sorted((Path(args.data) / "images" / "val").iterdir())[: args.count]
    columns = []
    for path in images:
        rgb = read_image(path)
        truth = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(Path(args.data) / "masks" / "val" / path.name))
        labels = seg.predict(rgb)
        column = np.concatenate([rgb, np.full((4, rgb.shape[1], 3), 255, np.uint8), seg.overlay(rgb, labels, 0.6),
                                 np.full((4, rgb.shape[1], 3), 255, np.uint8), overlay(rgb, truth, seg.description.palette, 0.6)], 0)
        columns.append(column)
    grid = side_by_side(columns)
    grid = cv2.resize(grid, (grid.shape[1] * 2, grid.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(args.out, grid[..., ::-1])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
