"""Render docs/images/synth_samples.png: generated scenes (top) and their label maps (bottom)."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from idrnet.data.synth import CLASSES, PALETTE, render_scene


def main(n: int = 6, size: int = 128, seed: int = 0) -> None:
    palette = np.array(PALETTE, np.uint8)
    tiles = [render_scene(np.random.default_rng([seed, 0, i]), size) for i in range(n)]
    canvas = Image.new("RGB", (n * (size + 4), 2 * (size + 4) + 16 * ((len(CLASSES) + 3) // 4)), (255, 255, 255))
    for i, (image, label) in enumerate(tiles):
        canvas.paste(Image.fromarray(image), (i * (size + 4), 0))
        canvas.paste(Image.fromarray(palette[label]), (i * (size + 4), size + 4))
    draw = ImageDraw.Draw(canvas)
    for k, name in enumerate(CLASSES):
        x, y = (k % 4) * 190 + 4, 2 * (size + 4) + (k // 4) * 16 + 2
        draw.rectangle([x, y, x + 12, y + 12], fill=PALETTE[k])
        draw.text((x + 16, y), name, fill=(0, 0, 0))
    out = Path(__file__).resolve().parents[1] / "docs" / "images" / "synth_samples.png"
    canvas.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
