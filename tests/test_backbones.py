"""Backbones: ResNet-V1c geometry, ImageNet weight loading, generic timm models."""

import pytest
import torch

from idrnet.models.backbones import ResNetV1c, create_backbone
from idrnet.models.pretrained import load_resnet_v1c_imagenet


@pytest.mark.parametrize("stride,expected", [(8, [16, 8, 8, 8]), (16, [16, 8, 4, 4]), (32, [16, 8, 4, 2])])
def test_resnet_output_strides(stride, expected):
    backbone = create_backbone("resnet18v1c", output_stride=stride, base_width=4).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 64))
    assert [f.shape[-1] for f in features] == expected
    assert backbone.channels == [4, 8, 16, 32]


def test_resnet_dilations_follow_contract_dilation():
    body = create_backbone("resnet50v1c", output_stride=8, base_width=4).body
    assert [b.conv2.dilation[0] for b in body.layer3] == [1, 2, 2, 2, 2, 2]
    assert [b.conv2.dilation[0] for b in body.layer4] == [2, 4, 4]
    basic = create_backbone("resnet18v1c", output_stride=8, base_width=4).body
    assert [b.conv1.dilation[0] for b in basic.layer4] == [2, 4]
    assert [b.conv2.dilation[0] for b in basic.layer4] == [1, 1]  # reference BasicBlock: conv2 undilated


def test_open_mmlab_imagenet_file_loads(tmp_path):
    backbone = ResNetV1c(18, 8, base_width=4)
    reference_names = {}
    for key, value in backbone.body.state_dict().items():
        key = key.replace("conv1.", "stem.", 1) if key.startswith("conv1.") else key
        key = "stem.7." + key[len("bn1."):] if key.startswith("bn1.") else key
        reference_names[key] = torch.randn_like(value.float()).to(value.dtype)
    reference_names["fc.weight"] = torch.zeros(10, 32)
    path = tmp_path / "resnet18_v1c.pth"
    torch.save({"state_dict": reference_names}, path)
    target = ResNetV1c(18, 8, base_width=4)
    load_resnet_v1c_imagenet(target, str(path))
    assert torch.equal(target.body.conv1[0].weight, reference_names["stem.0.weight"])
    assert torch.equal(target.body.bn1.running_var, reference_names["stem.7.running_var"])


@pytest.mark.parametrize("name", ["efficientnet_lite0", "convnext_tiny", "hrnet_w18_small", "mobilenetv3_small_100"])
def test_generic_timm_backbones_give_four_nchw_stages(name):
    backbone = create_backbone(name, output_stride=8).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 64))
    assert len(features) == 4 == len(backbone.channels)
    assert [f.shape[1] for f in features] == backbone.channels
    assert all(f.dim() == 4 for f in features)


def test_swin_large_recipes_start_from_the_official_imagenet22k_file():
    """The Swin-L zoo recipes name timm's ms_in22k tag, whose source is the file the official runs used."""
    from pathlib import Path

    import timm.models

    from idrnet.engine.config import load_train_config
    from idrnet.models.backbones.timm_backbone import timm_weights

    configs = sorted((Path(__file__).parents[1] / "configs" / "zoo").glob("*swinlarge*.yaml"))
    assert len(configs) == 4
    for path in configs:
        name, file = timm_weights("swin_large_patch4_window12_384", load_train_config(path).pretrained_backbone)
        assert file is None
        cfg = timm.models.get_pretrained_cfg(name)
        assert cfg.url == "https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_large_patch4_window12_384_22k.pth"


def test_timm_backbone_loads_a_local_weights_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    source = timm.create_model("efficientnet_lite0", num_classes=0)
    torch.nn.init.normal_(source.conv_stem.weight)
    save_file(source.state_dict(), str(tmp_path / "lite0.safetensors"))
    backbone = create_backbone("efficientnet_lite0", output_stride=32, pretrained=str(tmp_path / "lite0.safetensors"))
    torch.testing.assert_close(backbone.body.conv_stem.weight, source.conv_stem.weight)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        create_backbone("efficientnet_lite0", pretrained=str(tmp_path / "missing.pth"))
