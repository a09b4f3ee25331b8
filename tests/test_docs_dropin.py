"""Every Python snippet of docs/dropin.md runs, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("segmentation_models_pytorch")

DOC = Path(__file__).resolve().parents[1] / "docs" / "dropin.md"


def test_dropin_snippets_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # the export snippet writes a file
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    assert (tmp_path / "my_net_idrnet.onnx").is_file() and (tmp_path / "unet_idrnet.pt").is_file()
    assert sorted(namespace["losses"]) == ["aux", "main", "stage1", "total"]
