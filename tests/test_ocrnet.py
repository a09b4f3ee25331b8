"""OCRNet and HRNetV2: structure and names of the reference, official-checkpoint loading, training, export."""

from __future__ import annotations

import pytest
import torch

import idrnet
from idrnet import ModelConfig, build_model
from idrnet.config import from_dict
from idrnet.engine.losses import training_losses
from idrnet.models.backbones import HRNetV2, create_backbone
from idrnet.models.checkpoint import CheckpointError


def tiny_ocrnet(backbone: str = "hrnetv2_w18_small", num_classes: int = 5) -> ModelConfig:
    options = {"width": 4, "stage1_channels": 8} if backbone.startswith("hrnet") else {}
    return from_dict(ModelConfig, {
        "num_classes": num_classes,
        "backbone": {"name": backbone, "output_stride": 8, "options": options,
                     **({"base_width": 4} if backbone.startswith("resnet") else {})},
        "head": {"type": "ocrnet", "feats_channels": 16, "transform_channels": 8, "regions_channels": 16},
        "auxiliary": None,
    })


def official_keys(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our state dict under the reference's names (the inverse of the official-checkpoint mapping, HRNet)."""
    out = {}
    for key, value in model.state_dict().items():
        if key.startswith("backbone.body."):
            out["backbone_net." + key[len("backbone.body."):]] = value
        elif key.startswith("decode_head.object_regions."):
            out["auxiliary_decoder." + key[len("decode_head.object_regions."):]] = value
        else:
            out[key[len("decode_head."):]] = value
    return out


def randomise_batchnorm(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def test_hrnet_names_match_the_reference_and_odd_sizes_work():
    backbone = create_backbone("hrnetv2_w18_small")
    keys = set(backbone.body.state_dict())
    for name in ("conv1.weight", "bn2.running_var", "layer1.0.downsample.0.weight", "transition1.0.0.weight",
                 "transition1.1.0.0.weight", "stage2.0.branches.1.1.conv2.weight", "stage2.0.fuse_layers.0.1.0.weight",
                 "stage3.2.fuse_layers.2.0.1.0.weight", "stage4.1.fuse_layers.3.0.2.1.running_mean",
                 "transition3.3.0.0.weight"):
        assert name in keys, name
    assert backbone.channels == (270,) * 4
    tiny = HRNetV2("hrnetv2_w18_small", width=4, stage1_channels=8).eval()
    with torch.no_grad():
        outputs = tiny(torch.randn(2, 3, 45, 61))
    assert len(outputs) == 4 and outputs[0].shape == (2, 60, 12, 16) and all(o is outputs[0] for o in outputs)


def test_hrnet_imagenet_file_loads_and_wrong_file_is_named(tmp_path):
    source = HRNetV2("hrnetv2_w18_small", width=4, stage1_channels=8)
    randomise_batchnorm(source)
    state = dict(source.body.state_dict())
    state["classifier.weight"] = torch.randn(1000, 2048)  # the classification head of open-mmlab's files
    state["incre_modules.0.0.conv1.weight"] = torch.randn(32, 4, 1, 1)
    path = tmp_path / "hrnetv2_w18_small.pth"
    torch.save({"state_dict": state}, path)
    loaded = HRNetV2("hrnetv2_w18_small", pretrained=str(path), width=4, stage1_channels=8)
    for key, value in source.body.state_dict().items():
        assert torch.equal(loaded.body.state_dict()[key], value), key
    with pytest.raises(CheckpointError, match="not an ImageNet checkpoint"):
        HRNetV2("hrnetv2_w18_small", pretrained=str(path), width=8, stage1_channels=8)


@pytest.mark.parametrize("backbone", ["hrnetv2_w18_small", "resnet18v1c"])
def test_ocrnet_trains_and_its_regions_are_supervised(backbone):
    torch.manual_seed(0)
    model = build_model(tiny_ocrnet(backbone)).train()
    images, targets = torch.randn(2, 3, 64, 64), torch.randint(0, 5, (2, 64, 64))
    losses = training_losses(model, images, targets)
    assert set(losses) == {"main", "aux", "total"}
    torch.testing.assert_close(losses["total"], losses["main"] + losses["aux"])
    losses["total"].backward()
    regions = model.decode_head.object_regions[0].weight.grad
    assert regions is not None and regions.abs().sum() > 0  # the region head learns from both losses
    model.eval()
    with torch.no_grad():
        assert model(images).shape == (2, 5, 64, 64)


def test_official_ocrnet_checkpoint_loads_by_its_names(tmp_path):
    torch.manual_seed(0)
    source = build_model(tiny_ocrnet()).eval()
    randomise_batchnorm(source)
    path = tmp_path / "ocrnet_tiny.pth"
    torch.save({"model": official_keys(source)}, path)
    loaded = idrnet.create_model(tiny_ocrnet(), checkpoint=str(path))
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x))


def assert_onnx_matches(config: ModelConfig, path, sizes) -> None:
    """Export a randomly initialised model of ``config`` and compare ONNX Runtime with eager at ``sizes``."""
    pytest.importorskip("onnxruntime")
    from idrnet.deploy.export import export_onnx
    from idrnet.deploy.onnx_model import OnnxSegmentor

    torch.manual_seed(0)
    model = build_model(config).eval()
    randomise_batchnorm(model)
    runner = OnnxSegmentor(export_onnx(model, path, (64, 64)))
    for size in sizes:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(runner(x), expected, rtol=1e-4, atol=1e-4)


def test_ocrnet_exports_to_onnx_with_dynamic_sizes(tmp_path):
    assert_onnx_matches(tiny_ocrnet(), tmp_path / "ocrnet.onnx", ((64, 64), (48, 80)))


def tiny_idrnet_ocrnet(num_classes: int = 5) -> ModelConfig:
    return from_dict(ModelConfig, {
        "num_classes": num_classes,
        "backbone": {"name": "hrnetv2_w18_small", "options": {"width": 4, "stage1_channels": 8}},
        "head": {"type": "idrnet", "context": "ocr", "feats_channels": 16, "transform_channels": 8,
                 "regions_channels": 16, "dropout": 0.0},
        "auxiliary": None,
    })


def test_idrnet_ocrnet_trains_and_its_relations_move():
    torch.manual_seed(0)
    model = build_model(tiny_idrnet_ocrnet()).train()
    head = model.decode_head
    before = head.class_relations_mean.clone(), head.dl_cls_representations.clone()
    images, targets = torch.randn(2, 3, 64, 64), torch.randint(0, 5, (2, 64, 64))
    losses = training_losses(model, images, targets, deleted_classes=torch.tensor([0, 1]))
    assert set(losses) == {"main", "stage1", "aux", "total"}
    torch.testing.assert_close(losses["total"], losses["main"] + losses["stage1"] + losses["aux"])
    losses["total"].backward()
    assert not torch.equal(head.class_relations_mean[:2], before[0][:2])  # rows of the deleted classes
    torch.testing.assert_close(head.class_relations_mean[2:], before[0][2:])
    assert not torch.equal(head.dl_cls_representations, before[1])
    assert head.object_regions[0].weight.grad.abs().sum() > 0


def test_idrnet_ocrnet_zoo_entries_and_their_baselines():
    for name in idrnet.list_models("idrnet_ocrnet_"):
        entry = idrnet.get_entry(name)
        baseline = idrnet.get_entry(entry.baseline)
        assert entry.baseline == name.removeprefix("idrnet_") and baseline.framework == "ocrnet"
        assert entry.config.head.baseline() == OCRNetHeadConfigWithIDRNetDropout(baseline.config.head)
    assert len(idrnet.list_models("idrnet_ocrnet_")) == 15 and len(idrnet.list_models("ocrnet_")) == 15
    with torch.device("meta"):
        ocr = build_model(idrnet.get_entry("ocrnet_hrnetv2w48_cityscapes").config)
        idr = build_model(idrnet.get_entry("idrnet_ocrnet_hrnetv2w48_cityscapes").config)
    assert idrnet.count_parameters(idr) > idrnet.count_parameters(ocr)


def OCRNetHeadConfigWithIDRNetDropout(head):  # noqa: N802 - the official OCRNet head with IDRNet's dropout (0.1)
    import dataclasses

    return dataclasses.replace(head, dropout=0.1)


def test_idrnet_ocrnet_exports_to_onnx(tmp_path):
    # On a ResNet: the HRNet's export (~45 s here) is covered by the OCRNet test above.
    config = tiny_idrnet_ocrnet()
    config.backbone = tiny_ocrnet("resnet18v1c").backbone
    assert_onnx_matches(config, tmp_path / "idrnet_ocrnet.onnx", ((56, 72),))
