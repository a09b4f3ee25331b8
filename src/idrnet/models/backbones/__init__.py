"""Backbones: the reference's ResNet-V1c and any timm model (Swin, ConvNeXt, HRNet, EfficientNet …)."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from ...errors import InputError
from .hrnet import ARCHS as HRNET_ARCHS
from .hrnet import HRNetV2
from .resnet import ResNetV1c
from .swin import SwinBackbone
from .timm_backbone import TimmBackbone

__all__ = ["HRNetV2", "ResNetV1c", "SwinBackbone", "TimmBackbone", "create_backbone"]

# Short names for timm models that need arguments beyond their name.
TIMM_ALIASES: dict[str, dict[str, Any]] = {
    "convnext_tiny": dict(name="convnext_tiny", out_indices=(0, 1, 2, 3)),
    "convnext_base": dict(name="convnext_base", out_indices=(0, 1, 2, 3)),
    "hrnet_w18": dict(name="hrnet_w18", out_indices=(1, 2, 3, 4)),
    "hrnet_w48": dict(name="hrnet_w48", out_indices=(1, 2, 3, 4)),
    "efficientnet_lite0": dict(name="efficientnet_lite0", out_indices=(1, 2, 3, 4)),
}


def create_backbone(
    name: str, output_stride: int = 8, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """Build a backbone by name.

    ``resnet{18,34,50,101,152}v1c`` give the reference's ResNet; ``hrnetv2_w18_small``, ``hrnetv2_w{18,32,40,48}``
    the reference's HRNetV2 (options ``width``, ``stage1_channels``); ``swin_*`` (``swin_large_384`` for the
    official Swin-L) the reference's Swin; names in ``TIMM_ALIASES`` and any other timm model name go
    through :class:`TimmBackbone`. ``kwargs`` go to timm (e.g. ``embed_dim``, ``depths``). Every backbone returns four stages, fine to coarse,
    and exposes ``channels``.
    """
    if name.startswith("resnet") and name.endswith("v1c"):
        depth = name[len("resnet") : -len("v1c")]
        if not depth.isdigit():
            raise InputError(f"backbone {name!r}: expected resnet<depth>v1c, e.g. resnet50v1c")
        return ResNetV1c(int(depth), output_stride, pretrained, **kwargs)
    if name in HRNET_ARCHS:
        unknown = sorted(set(kwargs) - {"width", "stage1_channels"})
        if unknown:
            raise InputError(f"backbone {name}: unknown option(s) {', '.join(unknown)} (HRNetV2 takes width and "
                             "stage1_channels; base_width is ResNet-V1c's)")
        return HRNetV2(name, pretrained=pretrained, **kwargs)
    if name.startswith("swin_"):
        timm_name = "swin_large_patch4_window12_384" if name == "swin_large_384" else name
        return SwinBackbone(timm_name, pretrained=pretrained, **kwargs)
    options = dict(TIMM_ALIASES.get(name, dict(name=name)))
    options.update(kwargs)
    timm_name = options.pop("name")
    _check_timm_name(name, timm_name)
    stride = output_stride if _supports_output_stride(timm_name) else None
    return TimmBackbone(timm_name, output_stride=stride, pretrained=pretrained, **options)


def _check_timm_name(name: str, timm_name: str) -> None:
    import difflib

    import timm

    if timm.is_model(timm_name):
        return
    from ...config import ConfigError

    ours = ["resnet18v1c", "resnet50v1c", "resnet101v1c", "swin_large_384", *HRNET_ARCHS, *TIMM_ALIASES]
    close = difflib.get_close_matches(name, ours + timm.list_models(), n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else " (timm's documentation lists its model names)"
    raise ConfigError(f"backbone {name!r} is neither one of ours (resnet<depth>v1c, swin_*, "
                      f"{', '.join(sorted(TIMM_ALIASES))}) nor a timm model{hint}")


def _supports_output_stride(timm_name: str) -> bool:
    return not any(timm_name.startswith(p) for p in ("swin", "vit", "hrnet", "deit", "beit", "eva"))
