"""The README's Python snippets run as written (a new user copies them), each on its own."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_snippets_run_each_in_a_fresh_namespace(tmp_path, monkeypatch, trained):
    pytest.importorskip("segmentation_models_pytorch")
    blocks = _blocks()
    assert len(blocks) == 3
    # The first loads an official SSSegmentation checkpoint (a 200 MB download, checkpoint=True, or the
    # file); tests/test_checkpoints.py loads such files. The others need only what they name:
    _, weights, data = trained
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    shutil.copy(weights, tmp_path / "runs" / "quickstart" / "final.safetensors")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 52, 3), dtype=np.uint8)).save("photo.png")
    for block in blocks[1:]:
        namespace: dict = {}
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["labels"].shape == (40, 52)
    assert "official" in blocks[0] or "checkpoint=" in blocks[0]
