"""SMP's own kinds of checks (its test suite's: input channels, encoder depth, batch 1 and 2, train and
eval, non-square sizes, tracing) over every architecture of the installed SMP, with IDRNet attached:
wherever the plain SMP model runs, the attached one runs and gives the same output shapes."""

from __future__ import annotations

import pytest
import torch

import idrnet

smp = pytest.importorskip("segmentation_models_pytorch")
SMALL = {"feats_channels": 16, "transform_channels": 8}


def _architectures() -> list[str]:
    base = smp.base.SegmentationModel
    found = sorted(n for n in dir(smp) if isinstance(getattr(smp, n), type) and issubclass(getattr(smp, n), base)
                   and getattr(smp, n) is not base)
    return [n for n in found if n != "DPT"]  # a ViT-only architecture: tests/test_dropin.py checks it


def _build(arch: str, **options):
    torch.manual_seed(0)
    return getattr(smp, arch)(encoder_name="resnet18", encoder_weights=None, classes=3, **options)


def test_every_installed_architecture_is_covered():
    assert len(_architectures()) >= 11


@pytest.mark.parametrize("arch", _architectures())
@pytest.mark.parametrize("options", [{"in_channels": 1}, {"encoder_depth": 3}], ids=["in_channels1", "depth3"])
def test_attached_models_run_where_smp_runs(arch, options):
    if "encoder_depth" in options and arch in ("Unet", "UnetPlusPlus", "MAnet"):
        options = {**options, "decoder_channels": [64, 32, 16]}  # one decoder stage per encoder stage, as SMP asks
    channels = options.get("in_channels", 3)
    size = (128, 192) if arch == "PAN" else (64, 96)
    try:
        plain = _build(arch, **options)
        plain.eval()
        with torch.no_grad():
            expected = plain(torch.randn(1, channels, *size)).shape
    except Exception as err:  # noqa: BLE001 - SMP itself does not support this combination
        pytest.skip(f"plain SMP {arch} with {options}: {type(err).__name__}")
    model = idrnet.attach(_build(arch, **options), 3, in_channels=channels, **SMALL)
    for batch in (1, 2):
        x = torch.randn(batch, channels, *size)
        model.eval()
        with torch.no_grad():
            assert model(x).shape == (batch, *expected[1:])
        model.train()
        if batch == 2:  # BatchNorm needs more than one value per channel in train mode
            losses = idrnet.training_losses(model, x, torch.randint(0, 3, (batch, *size)))
            assert torch.isfinite(losses["total"])
    model.eval()
    x = torch.randn(1, channels, *size)
    with torch.no_grad():
        traced = torch.jit.trace(model.model, x, check_trace=False)
        torch.testing.assert_close(traced(x), model.model(x), rtol=1e-4, atol=1e-4)
