"""Write tests/fixtures/official_recipes.json: the training-recipe values of the 43 official configs
(20 IDRNet, 8 baselines, 15 OCRNet).

Reads the shared specification's ``official-configs.json``, ``baseline-configs.json`` and
``ocrnet-configs.json`` (default
``../shared/reference``) and keeps what a recipe test needs (schedule, optimiser, total batch,
dataset, the train/test resize and crop), so CI can check our zoo configs without the specification.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def extract(config: dict) -> dict:
    """The recipe part of one official config."""
    train = dict(config["dataset"]["train"]["data_pipelines"])
    test = dict(config["dataset"]["test"]["data_pipelines"])
    return {
        "dataset": config["dataset"]["type"],
        "total_batch": config["dataloader"]["expected_total_train_bs_for_assert"],
        "scheduler": config["scheduler"],
        "train_resize": train["Resize"],
        "train_crop": train["RandomCrop"]["crop_size"],
        "test_resize": test["Resize"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", default=str(ROOT.parent / "shared" / "reference"))
    args = parser.parse_args()
    folder = Path(args.reference)
    configs = {}
    for file in ("official-configs.json", "baseline-configs.json", "ocrnet-configs.json"):
        configs.update(json.loads((folder / file).read_text()))
    out = ROOT / "tests" / "fixtures" / "official_recipes.json"
    out.write_text(json.dumps({name: extract(c) for name, c in sorted(configs.items())}, indent=1) + "\n")
    print(f"wrote {len(configs)} recipes to {out}")


if __name__ == "__main__":
    main()
