"""The Hub section of docs/models.md runs as written, on a trained run (offline: a local folder)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

DOC = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def test_the_hub_snippet_runs(tmp_path, monkeypatch, trained):
    config, weights, _ = trained
    section = DOC.read_text().split("## Share on the Hugging Face Hub", 1)[1]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    run = tmp_path / "runs" / "quickstart"
    run.mkdir(parents=True)
    shutil.copy(weights, run / "final.safetensors")
    shutil.copy(config, run / "config.yaml")
    (run / "final_results.json").write_text('{"mIoU": 0.42, "aAcc": 0.9}')
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 44, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    card = (tmp_path / "shared" / "quickstart-idrnet" / "README.md").read_text()
    assert "| mIoU | 42.00 |" in card and "## Training config" in card and "iterations: 4" in card
    assert namespace["labels"].shape == (30, 44)
    assert yaml.safe_load(card.split("---")[1])["pipeline_tag"] == "image-segmentation"
