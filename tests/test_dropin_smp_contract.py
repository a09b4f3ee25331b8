"""SMP's own kinds of checks (its test suite's tests/models/base.py: input channels, encoder depth, batch
1 and 2, train and eval, non-square sizes, any resolution, TorchScript, strict torch.export, torch.compile
with fullgraph) over every architecture of the installed SMP, with IDRNet attached: wherever the plain SMP
model passes a check, the attached one passes it too; and every attached architecture exports to ONNX."""

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


def _attached(arch: str):
    """The attached model (eval mode, IDRNet statistics moved off their initial values so the relation
    path contributes) and SMP's test sample for it."""
    model = idrnet.attach(_build(arch), 3, **SMALL).eval()
    with torch.no_grad():
        model.decode_head.class_relations_mean.add_(torch.rand(3, 3))
        model.decode_head.dl_cls_representations.normal_()
    size = 128 if arch == "PAN" else 64
    return model, torch.randn(1, 3, size, size)


@pytest.mark.parametrize("arch", _architectures())
def test_any_resolution_as_smp_allows(arch):
    """SMP's test_any_resolution: +3 and +7 pixels; models that need divisible sizes say so."""
    model, sample = _attached(arch)
    odd = torch.randn(1, 3, sample.shape[2] + 3, sample.shape[3] + 7)
    if model.model.requires_divisible_input_shape:
        with pytest.raises(RuntimeError, match="Wrong input shape"):
            model.model(odd)
    else:
        with torch.inference_mode():
            assert model.model(odd).shape[2:] == odd.shape[2:]
    with torch.inference_mode():  # the idrnet tools' entry point pads to the divisor, so any size runs
        assert model.forward_scores(odd).shape[2:] == odd.shape[2:]


@pytest.mark.parametrize("arch", _architectures())
def test_torchscript_where_smp_scripts(arch):
    """SMP's test_torch_script (same tolerance): scripted where SMP's model is scriptable."""
    model, sample = _attached(arch)
    if not model.model._is_torch_scriptable:
        with pytest.raises(RuntimeError):
            torch.jit.script(model.model)
        return
    scripted = torch.jit.script(model.model)
    with torch.inference_mode():
        torch.testing.assert_close(scripted(sample), model.model(sample), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("arch", _architectures())
def test_strict_torch_export_and_its_onnx_graph(arch, tmp_path):
    """SMP's test_torch_export: strict (TorchDynamo traces the whole forward, no graph break), 1e-5; and
    that program as ONNX, run by ONNX Runtime. (idrnet.export_onnx, which exports and verifies at several
    sizes, is tested in test_dropin.py and test_export.py; exporting every architecture through it again
    would cost ~10 s each.)"""
    model, sample = _attached(arch)
    exported = torch.export.export(model.model, args=(sample,), strict=True)
    with torch.inference_mode():
        expected = model.model(sample)
        torch.testing.assert_close(exported.module()(sample), expected, rtol=1e-5, atol=1e-5)
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = tmp_path / "m.onnx"
    torch.onnx.export(exported, (sample,), str(path), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: sample.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), expected, rtol=1e-4, atol=1e-4)


# Strict export above already traces every architecture whole with TorchDynamo; compiling adds dynamic
# shapes, checked on the architectures whose IDRNet path differs most: pooled features (U-Net), adaptive
# pooling (UPerNet) and PAN's attention decoder. All eleven pass too (5-8 s each, left out for time).
@pytest.mark.parametrize("arch", ["Unet", "UPerNet", "PAN"])
def test_fullgraph_compile_with_dynamic_shapes(arch):
    """SMP's test_compile: fullgraph, dynamic, eager backend."""
    model, sample = _attached(arch)
    torch.compiler.reset()
    try:
        compiled = torch.compile(model.model, fullgraph=True, dynamic=True, backend="eager")
        with torch.inference_mode():
            torch.testing.assert_close(compiled(sample), model.model(sample), rtol=1e-5, atol=1e-5)
    finally:
        torch.compiler.reset()
