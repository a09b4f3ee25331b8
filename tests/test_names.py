"""Public names: the inference facade and the module are told apart, one loss entry point, and the
names of idrnet 0.1 still work for one release, each with a DeprecationWarning naming its successor."""

from __future__ import annotations

import warnings

import pytest
import torch
from tiny import tiny_config

import idrnet


def test_deprecated_names_warn_and_behave_as_their_successors():
    with pytest.warns(DeprecationWarning, match="idrnet.Predictor"):
        assert idrnet.Segmenter is idrnet.Predictor
    model = idrnet.build_model(tiny_config("fcn")).train()
    images, targets = torch.randn(2, 3, 32, 32), torch.randint(0, 5, (2, 32, 32))
    torch.manual_seed(0)
    expected = idrnet.training_losses(model, images, targets)
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match=r'training_losses\(model, images, targets\)\["total"\]'):
        assert torch.equal(idrnet.training_loss(model, images, targets), expected["total"])
    torch.manual_seed(0)
    outputs = model.forward_train(images)
    with pytest.warns(DeprecationWarning, match="outputs=outputs"):
        terms = idrnet.loss_terms(model, outputs, targets)
    assert {k: v.item() for k, v in terms.items()} == pytest.approx({k: v.item() for k, v in expected.items()})


def test_current_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in idrnet.__all__:
            getattr(idrnet, name)
    assert "Segmenter" not in idrnet.__all__ and "training_loss" not in idrnet.__all__
