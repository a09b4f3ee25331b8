"""Tiny model configs for fast tests."""

from idrnet import ModelConfig
from idrnet.config import from_dict


def tiny_config(head_type="idrnet", num_classes=5, depth=18, dropout=0.0, **head) -> ModelConfig:
    if head_type == "idrnet":
        head = {"transform_channels": 8, **head}
    return from_dict(ModelConfig, {
        "num_classes": num_classes,
        "backbone": {"name": f"resnet{depth}v1c", "output_stride": 8, "base_width": 4},
        "head": {"type": head_type, "feats_channels": 16, "dropout": dropout, **head},
        "auxiliary": {"channels": 16, "dropout": dropout},
    })


IDRNET_VARIANTS = {
    "fcn": {},
    "aspp_after": {"context": "aspp", "context_refiner": "after"},
    "ppm_before": {"context": "ppm", "context_refiner": "before"},
    "upernet_aspp": {"context": "aspp", "context_refiner": "after", "fpn_channels": 16},
}
