"""ONNX export (dynamic batch/height/width, ONNX Runtime parity), torch.compile and torch.export."""

from __future__ import annotations


import pytest
import torch

from idrnet import build_model
from tiny import tiny_config

FAMILIES = {
    "fcn": tiny_config("fcn"),
    "pspnet": tiny_config("pspnet"),
    "deeplabv3": tiny_config("deeplabv3"),
    "upernet": tiny_config("upernet"),
    "idrnet_fcn": tiny_config("idrnet"),
    "idrnet_ppm_before": tiny_config("idrnet", context="ppm", context_refiner="before"),
    "idrnet_upernet_aspp": tiny_config("idrnet", context="aspp", context_refiner="after", fpn_channels=16),
}


# FCN's head is inside every other family and PSPNet's pyramid pooling inside UPerNet (both baselines
# are exported by test_bench and test_precision too); each export costs ~10 s of a 2-core machine.
@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ("fcn", "pspnet")])
def test_onnx_export_matches_pytorch_at_several_sizes(family, tmp_path):
    pytest.importorskip("onnxruntime")
    from idrnet.deploy.export import export_onnx
    from idrnet.deploy.onnx_model import OnnxSegmentor

    torch.manual_seed(0)
    model = build_model(FAMILIES[family]).eval()
    path = export_onnx(model, tmp_path / f"{family}.onnx", example_size=(64, 64))
    runner = OnnxSegmentor(path)
    assert runner.num_classes == 5 and runner.config.head.type == FAMILIES[family].head.type
    for shape in [(1, 3, 64, 64), (2, 3, 97, 61), (1, 3, 160, 224)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            expected = model(x)
        got = runner(x)
        assert got.shape == expected.shape
        rel = float((got - expected).abs().max() / expected.abs().max())
        assert rel <= 1e-4, f"{family} {shape}: relative error {rel:.2e}"


@pytest.mark.slow
def test_export_cli_and_predict_with_onnx_runtime(trained, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from PIL import Image

    from idrnet import Predictor
    from idrnet.cli.main import main

    _, ckpt, data = trained
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(ckpt), str(onnx_path), "--example-size", "64x64", "--check-sizes", "48x48", "61x83"]) == 0
    out = capsys.readouterr().out  # what it is about to do comes first (tracing a large size takes minutes)
    assert out.startswith("tracing at 64x64, then checking with ONNX Runtime at 64x64, 48x48, 61x83 …") and "same label on" in out
    images = sorted((data / "images" / "val").iterdir())
    torch_labels = Predictor(ckpt).predict(images[0])
    onnx_predictor = Predictor(onnx_path)
    assert onnx_predictor.class_names[3] == "cup on table"  # class names travel inside the .onnx file
    onnx_labels = onnx_predictor.predict(images[0])
    assert onnx_labels.shape == torch_labels.shape
    assert (onnx_labels == torch_labels).mean() > 0.99
    out = tmp_path / "pred"
    assert main(["predict", str(images[0]), "--model", str(onnx_path), "--out", str(out)]) == 0
    assert Image.open(out / f"{images[0].stem}.png").size == (48, 48)


# PSPNet's pyramid pooling is inside UPerNet; each compiled family costs ~30 s of a 2-core machine.
@pytest.mark.parametrize("family", ["upernet", "idrnet_upernet_aspp"])
def test_torch_compile_eval_path(family):
    torch.manual_seed(0)
    model = build_model(FAMILIES[family]).eval()
    compiled = torch.compile(model, dynamic=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_torch_export_with_dynamic_batch_and_size(family):
    torch.manual_seed(0)
    model = build_model(FAMILIES[family]).eval()
    batch = torch.export.Dim("batch", min=1, max=16)
    h, w = torch.export.Dim("h", min=32, max=512), torch.export.Dim("w", min=32, max=512)
    program = torch.export.export(model, (torch.randn(2, 3, 64, 64),), dynamic_shapes={"images": {0: batch, 2: h, 3: w}})
    x = torch.randn(3, 3, 75, 99)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-4, atol=1e-5)


def _idrnet_on(backbone: str, options: dict):
    from idrnet.config import from_dict
    from idrnet.models.config import ModelConfig

    return from_dict(ModelConfig, {"num_classes": 3, "backbone": {"name": backbone, "options": options},
                                   "head": {"type": "idrnet", "feats_channels": 16, "transform_channels": 8,
                                            "context": "ppm", "fpn_channels": 16}})


SCRIPTED = {
    **FAMILIES,
    "ocrnet": tiny_config("ocrnet", regions_channels=16, transform_channels=8),
    "idrnet_ocr_before": tiny_config("idrnet", context="ocr", context_refiner="before", regions_channels=16),
    "hrnet": _idrnet_on("hrnetv2_w18_small", {"width": 4, "stage1_channels": 8}),
    "swin": _idrnet_on("swin_tiny_patch4_window7_224", {"embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 1, 1, 1]}),
}


@pytest.mark.parametrize("family", list(SCRIPTED))
def test_torchscript_gives_the_eager_logits(family):
    """torch.jit.script (libtorch / C++ deployments) of every head on a ResNet backbone, and of IDRNet
    on HRNet and Swin (its pad-then-shift blocks included), at an odd size (padded inside)."""
    config = SCRIPTED[family]
    torch.manual_seed(0)
    model = build_model(config).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 67, 90)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), rtol=0, atol=0)


def test_every_runnable_model_offers_the_segmentation_model_protocol(tmp_path):
    """Segmentor, a wrapped and an attached model, the torch runtime and an ONNX graph all satisfy the
    written interface that inference, evaluation and serving rely on."""
    import torch.nn as nn

    from idrnet import attach, build_model
    from idrnet.deploy.torch_runtime import TorchRuntime
    from idrnet.dropin import WrappedModel
    from idrnet.models.protocol import SegmentationModel
    from tiny import tiny_config

    ours = build_model(tiny_config("fcn")).eval()

    def own_network():
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=8, padding=1), nn.ReLU(), nn.Conv2d(8, 5, 1))

    candidates = {"Segmentor": ours, "TorchRuntime": TorchRuntime(ours),
                  "WrappedModel": WrappedModel.of(own_network(), 5),
                  "attached": attach(own_network(), 5, feats_channels=8, transform_channels=4, probe_size=32)}
    pytest.importorskip("onnxruntime")
    from idrnet import export_onnx
    from idrnet.deploy.onnx_model import OnnxSegmentor

    candidates["OnnxSegmentor"] = OnnxSegmentor(export_onnx(ours, tmp_path / "m.onnx", (64, 64)))
    assert not isinstance(nn.Conv2d(3, 5, 1), SegmentationModel)  # a module is not a segmentation model
    for name, model in candidates.items():
        assert isinstance(model, SegmentationModel), name
        assert model.num_classes == 5 and model.forward_scores(torch.randn(1, 3, 40, 56)).shape == (1, 5, 40, 56), name
