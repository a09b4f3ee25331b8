"""Parity with the reference implementation (fixtures written by tools/make_reference_fixtures.py)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from idrnet import ModelConfig, build_model, training_losses
from idrnet.config import from_dict
from idrnet.models.checkpoint import _fit_auxiliary_keys, convert_official_state_dict, load_state_dict_strict

FIXTURES = Path(__file__).parent / "fixtures" / "reference"
CASES = sorted(p.stem for p in FIXTURES.glob("*.safetensors"))


def load_case(name):
    path = FIXTURES / f"{name}.safetensors"
    with safe_open(str(path), framework="pt") as f:
        config = from_dict(ModelConfig, json.loads(f.metadata()["config"]))
    tensors = load_file(str(path))
    for name in ("images", "odd_images"):
        if f"{name}_u8" in tensors:
            tensors[name] = (tensors[f"{name}_u8"].float() - 127.5) / 64.0
    tensors["targets"] = tensors["targets_u8"].long()
    model = build_model(config)
    state = convert_official_state_dict({k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")})
    load_state_dict_strict(model, state, str(path))
    return model, tensors


def assert_close(actual, expected, rtol=1e-4, atol=1e-5):
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def test_fixtures_exist():
    assert len(CASES) >= 13


@pytest.mark.parametrize("name", CASES)
def test_eval_logits_match_reference(name):
    model, t = load_case(name)
    model.eval()
    with torch.no_grad():
        logits = model.forward_logits(t["images"])
    assert logits.shape == t["eval_logits"].shape
    assert_close(logits, t["eval_logits"])
    if "odd_images" in t:  # sizes that are not multiples of the patch or window size
        with torch.no_grad():
            assert_close(model.forward_logits(t["odd_images"]), t["odd_eval_logits"])


@pytest.mark.parametrize("name", CASES)
def test_training_step_matches_reference(name):
    model, t = load_case(name)
    model.train()
    deleted = t.get("deleted")
    losses = training_losses(model, t["images"], t["targets"], deleted_classes=deleted)
    assert_close(losses["total"].detach().reshape(1), t["loss_total"])
    if "log.loss_cls_stage1" in t:
        assert_close(losses["stage1"].detach().reshape(1), t["log.loss_cls_stage1"])
        assert_close(losses["main"].detach().reshape(1), t["log.loss_cls_stage2"])
    ours = model.state_dict()
    compared = 0
    after = _fit_auxiliary_keys(model, convert_official_state_dict(
        {k[len("after."):]: v for k, v in t.items() if k.startswith("after.")}))
    for key, expected in after.items():
        mine = ours[key]
        if expected.dtype.is_floating_point:
            assert_close(mine, expected, rtol=1e-4, atol=2e-5)
        else:
            assert torch.equal(mine, expected), key
        compared += 1
    assert compared > 0
    if deleted is not None:
        initial = t["state.class_relations_mean"]
        assert not torch.allclose(initial, t["after.class_relations_mean"])  # the step really moved it
    grads = {k[len("grad."):]: v for k, v in t.items() if k.startswith("grad.")}
    if grads:
        losses["total"].backward()
        state = convert_official_state_dict({k: v for k, v in grads.items()})
        params = dict(model.named_parameters())
        for key, expected in state.items():
            assert_close(params[key].grad, expected, rtol=1e-3, atol=1e-5)
