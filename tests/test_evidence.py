"""CI-sized version of benchmarks/context_ab.py: the A/B pipeline runs end to end and IDRNet's
relation matrices move away from their identity initialisation while training."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("context_ab", ROOT / "benchmarks" / "context_ab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_context_ab_end_to_end(tmp_path: Path) -> None:
    from idrnet.data.synth import write_synthetic_dataset

    ab = _load_script()
    data = write_synthetic_dataset(tmp_path / "data", num_train=16, num_val=4, size=64, seed=0, progress=False)
    out, docs = tmp_path / "runs", tmp_path / "docs"
    extra = ["batch_size=4", "data.num_workers=0", "data.scale=[128,64]", "data.crop=[64,64]",
             "model.backbone.base_width=16", "model.head.feats_channels=32", "model.head.transform_channels=16",
             "model.auxiliary.channels=16"]
    variants = ["baseline_fcn", "idrnet", "idrnet_frozen_relations", "idrnet_no_dataset_repr"]
    assert ab.main(["--out", str(out), "--data", str(data), "--seeds", "0", "--iterations", "12",
                    "--docs", str(docs), "--variants", *variants, *sum((["--set", e] for e in extra), [])]) == 0

    assert ab.relation_distance_from_identity(out / "idrnet" / "seed_0" / "final.safetensors") > 1e-4
    assert ab.relation_distance_from_identity(out / "idrnet_frozen_relations" / "seed_0" / "final.safetensors") == 0
    from safetensors.torch import load_file

    frozen_memory = load_file(str(out / "idrnet_no_dataset_repr" / "seed_0" / "final.safetensors"))
    assert float(frozen_memory["decode_head.dl_cls_representations"].abs().max()) == 0
    learned = load_file(str(out / "idrnet" / "seed_0" / "final.safetensors"))
    assert float(learned["decode_head.dl_cls_representations"].abs().max()) > 0
    assert "decode_head.class_relations_mean" not in load_file(str(out / "baseline_fcn" / "seed_0" / "final.safetensors"))

    result = json.loads((out / "idrnet" / "seed_0" / "result.json").read_text())
    assert 0.0 <= result["mIoU"] <= 1.0 and len(result["IoU"]) == 11
    text = (docs / "evidence.md").read_text()
    for label in ab.LABELS.values():
        assert label in text
    assert (docs / "images" / "evidence_curves.png").stat().st_size > 1000
    assert (docs / "images" / "evidence_relations.png").stat().st_size > 1000
    # a second call reuses the finished runs instead of training again
    mtime = (out / "idrnet" / "seed_0" / "result.json").stat().st_mtime
    ab.main(["--out", str(out), "--data", str(data), "--seeds", "0", "--iterations", "12", "--docs", str(docs),
             "--variants", *variants])
    assert (out / "idrnet" / "seed_0" / "result.json").stat().st_mtime == mtime


@pytest.mark.slow
def test_dropin_ab_end_to_end(tmp_path: Path) -> None:
    """CI-sized benchmarks/dropin_ab.py: both pairs train from config lines and the report has their rows."""
    pytest.importorskip("segmentation_models_pytorch")
    from idrnet.data.synth import write_synthetic_dataset

    spec = importlib.util.spec_from_file_location("dropin_ab", ROOT / "benchmarks" / "dropin_ab.py")
    ab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ab)
    data = write_synthetic_dataset(tmp_path / "data", num_train=8, num_val=2, size=64, seed=0, progress=False)
    doc = tmp_path / "dropin_evidence.md"
    extra = ["batch_size=4", "data.num_workers=0", "data.scale=[64,64]", "data.crop=[64,64]"]
    assert ab.main(["--out", str(tmp_path / "runs"), "--data", str(data), "--seeds", "0", "--iterations", "2",
                    "--doc", str(doc), *sum((["--set", e] for e in extra), [])]) == 0
    text = doc.read_text()
    assert "SMP Unet + IDRNet − SMP Unet (ResNet-18) | 1 |" in text
    assert "DeepLabV3-MobileNetV3 + IDRNet − torchvision DeepLabV3-MobileNetV3 | 1 |" in text
