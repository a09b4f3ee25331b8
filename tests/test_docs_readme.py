"""The README's Python snippets run as written (a new user copies them), each on its own."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import idrnet

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def official_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s weights under SSSegmentation's key names, as its checkpoints store them (the inverse
    of the renaming idrnet does on loading; random weights stand in for the published ones)."""
    from idrnet.models.checkpoint import _STEM

    stem = {ours: theirs for theirs, ours in _STEM.items()}
    position = getattr(model.decode_head, "context_refiner_position", None)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("backbone.body."):
            inner = key[len("backbone.body."):]
            inner = next((stem[s] + inner[len(s):] for s in stem if inner.startswith(s)), inner)
            key = "backbone_net." + inner
        elif key.startswith("auxiliary_head."):
            key = "auxiliary_decoder." + key[len("auxiliary_head."):]
        else:
            key = key[len("decode_head."):].replace("coarse_context_refiner.", f"coarsecontext_refiner_{position}.")
        state[key] = value
    return state


def test_the_first_snippet_loads_an_official_format_checkpoint(tmp_path, monkeypatch):
    """The official checkpoint itself is a 200 MB download: a file in its format and key names, with
    random weights, stands in (tests/test_checkpoints.py checks logits against the reference)."""
    monkeypatch.chdir(tmp_path)
    name = "idrnet_upernet_resnet50os8_ade20k"
    torch.manual_seed(0)
    original = idrnet.create_model(name).eval()
    torch.save({"model": official_state_dict(original)}, f"{name}.pth")
    namespace: dict = {}
    exec(compile(_blocks()[0], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    assert torch.isfinite(namespace["loss"]) and namespace["labels"].shape[1:] == namespace["images"].shape[2:]
    with torch.no_grad():  # the logits (before the training step changed the statistics) are the saved weights'
        torch.testing.assert_close(namespace["logits"], original(namespace["images"]))


def test_the_readme_snippets_run_each_in_a_fresh_namespace(tmp_path, monkeypatch, trained):
    pytest.importorskip("segmentation_models_pytorch")
    blocks = _blocks()
    assert len(blocks) == 3
    # The first is test_the_first_snippet_loads_an_official_format_checkpoint. The others need only what
    # they name:
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
