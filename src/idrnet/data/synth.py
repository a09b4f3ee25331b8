"""A generated dataset in which some objects can only be classified from the rest of the scene.

Every image has a textured background, one *context* region (a wooden table or a metal sink, or a
grass lawn or a pond) and objects. A cup looks the same wherever it is, but its class is "cup on
table" in a scene with a table and "cup in sink" in a scene with a sink; likewise "bird on grass" and
"bird on pond". Cups and birds are placed away from the context region, so their own pixels and
their immediate surroundings say nothing about their class: only the scene's other classes do —
the class-to-class relation IDRNet is built to learn. Balls and boxes are unambiguous.

Written in the custom-dataset layout (``images/{train,val}``, ``masks/{train,val}``, palette PNG
masks, ``dataset.yaml``), deterministic for a seed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

from ..atomic import write_pil, write_text
from ..errors import InputError

CLASSES = (
    "background", "table", "sink", "cup on table", "cup in sink",
    "grass", "pond", "bird on grass", "bird on pond", "ball", "box",
)
PALETTE = (
    (40, 40, 40), (160, 110, 60), (170, 180, 190), (240, 200, 80), (80, 160, 240),
    (60, 170, 60), (40, 90, 200), (250, 120, 40), (140, 60, 220), (220, 40, 40), (230, 230, 230),
)
# Classes whose label depends on context, and the context class each needs.
AMBIGUOUS = {3: 1, 4: 2, 7: 5, 8: 6}
CONTEXT_CLASSES = (1, 2, 5, 6)


def _texture(rng: np.random.Generator, size: int, base: tuple[int, int, int], scale: float) -> np.ndarray:
    noise = cv2.resize(rng.normal(0, 1, (size // 8 + 1, size // 8 + 1)).astype(np.float32), (size, size))
    fine = rng.normal(0, 0.5, (size, size)).astype(np.float32)
    img = np.array(base, np.float32)[None, None, :] + scale * (noise + fine)[..., None]
    return np.clip(img, 0, 255)


def _free_box(rng: np.random.Generator, occupied: np.ndarray, h: int, w: int, tries: int = 50) -> tuple[int, int] | None:
    size = occupied.shape[0]
    for _ in range(tries):
        y, x = int(rng.integers(0, size - h)), int(rng.integers(0, size - w))
        if not occupied[max(0, y - 4):y + h + 4, max(0, x - 4):x + w + 4].any():
            return y, x
    return None


def render_scene(rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """One (RGB image, label map) pair."""
    backgrounds = ((110, 80, 120), (60, 100, 100), (150, 140, 125), (150, 95, 110), (95, 95, 95))
    image = _texture(rng, size, backgrounds[int(rng.integers(len(backgrounds)))], 18.0)
    label = np.zeros((size, size), np.uint8)
    occupied = np.zeros((size, size), bool)
    context = int(rng.choice(CONTEXT_CLASSES))
    # the context region: a band along one side of the image
    band = int(size * rng.uniform(0.22, 0.32))
    side = int(rng.integers(4))
    region = np.zeros((size, size), bool)
    if side == 0:
        region[:band] = True
    elif side == 1:
        region[-band:] = True
    elif side == 2:
        region[:, :band] = True
    else:
        region[:, -band:] = True
    looks = {1: ((150, 100, 55), 25.0), 2: ((175, 180, 190), 6.0), 5: ((60, 150, 50), 30.0), 6: ((40, 80, 190), 12.0)}
    base, scale = looks[context]
    image[region] = _texture(rng, size, base, scale)[region]
    label[region] = context
    occupied |= region
    ambiguous = {1: 3, 2: 4, 5: 7, 6: 8}[context]
    objects = [ambiguous] * int(rng.integers(1, 3)) + list(rng.choice([9, 10], size=int(rng.integers(1, 3))))
    for cls in objects:
        s = int(size * rng.uniform(0.1, 0.16))
        spot = _free_box(rng, occupied, s, s)
        if spot is None:
            continue
        y, x = spot
        mask = np.zeros((size, size), np.uint8)
        if cls in (3, 4):  # cup: a yellow rounded square with a handle, identical in both classes
            cv2.rectangle(mask, (x, y), (x + s - 1, y + s - 1), 1, -1)
            colour = (235, 195, 70)
        elif cls in (7, 8):  # bird: an orange ellipse with a dark head, identical in both classes
            cv2.ellipse(mask, (x + s // 2, y + s // 2), (s // 2, s // 3), 0, 0, 360, 1, -1)
            colour = (245, 125, 45)
        elif cls == 9:
            cv2.circle(mask, (x + s // 2, y + s // 2), s // 2, 1, -1)
            colour = (215, 45, 45)
        else:
            cv2.rectangle(mask, (x, y), (x + s - 1, y + s - 1), 1, -1)
            colour = (225, 225, 225)
        m = mask.astype(bool)
        shade = rng.normal(0, 6, (size, size, 1)).astype(np.float32)
        image[m] = np.clip(np.array(colour, np.float32) + shade[m], 0, 255)
        if cls in (7, 8):
            cv2.circle(image, (x + s - s // 5, y + s // 2), max(1, s // 6), (30, 30, 30), -1)
        label[m] = cls
        occupied |= m
    return image.astype(np.uint8), label


def remove_synthetic_files(root: Path) -> int:
    """Remove the files :func:`write_synthetic_dataset` writes (and nothing else) from ``root``; returns
    how many were removed. A folder holding another dataset (a ``dataset.yaml`` with other classes) is
    refused, untouched: its files may bear the same names."""
    spec_file = root / "dataset.yaml"
    if spec_file.is_file():
        try:
            classes = (yaml.safe_load(spec_file.read_text()) or {}).get("classes")
        except (yaml.YAMLError, AttributeError, UnicodeDecodeError):
            classes = None
        if classes != list(CLASSES):
            raise InputError(f"{root} holds another dataset ({spec_file} does not list the generated classes); "
                             "--overwrite replaces only a generated dataset: choose another folder")
    files = [root / "dataset.yaml"] if (root / "dataset.yaml").is_file() else []
    for split in ("train", "val"):
        for kind in ("images", "masks"):
            files += sorted((root / kind / split).glob(f"{split}_[0-9][0-9][0-9][0-9][0-9].png"))
    for path in files:
        path.unlink()
    return len(files)


def write_synthetic_dataset(
    root: str | Path, num_train: int = 400, num_val: int = 100, size: int = 128, seed: int = 0, progress: bool = True
) -> Path:
    """Write the dataset under ``root``; the same seed writes the same files."""
    root = Path(root)
    from tqdm import tqdm

    palette = [v for colour in PALETTE for v in colour]
    for split, count, offset in (("train", num_train, 0), ("val", num_val, 1)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "masks" / split).mkdir(parents=True, exist_ok=True)
        for i in tqdm(range(count), desc=f"synth {split}", disable=not progress):
            rng = np.random.default_rng([seed, offset, i])
            image, label = render_scene(rng, size)
            write_pil(root / "images" / split / f"{split}_{i:05d}.png", Image.fromarray(image))
            mask = Image.fromarray(label, mode="P")
            mask.putpalette(palette)
            write_pil(root / "masks" / split / f"{split}_{i:05d}.png", mask)
    spec = {
        "classes": list(CLASSES),
        "palette": [list(c) for c in PALETTE],
        "ignore_index": 255,
        "context_dependent_classes": {CLASSES[k]: CLASSES[v] for k, v in AMBIGUOUS.items()},
    }
    # written last: a dataset interrupted half-way has no dataset.yaml and is not taken for a whole one
    write_text(root / "dataset.yaml", yaml.safe_dump(spec, sort_keys=False))
    return root
