"""ImageNet initialisation for the ResNet-V1c backbone (the official recipe's starting point)."""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from ..errors import InputError
from .checkpoint import CheckpointError, load_weights_only, resnet_key_to_timm
from .download import fetch

# open-mmlab's ResNet-V1c ImageNet weights used by the official configs (hash prefix in the name).
RESNET_V1C_URLS = {
    18: "https://download.openmmlab.com/pretrain/third_party/resnet18_v1c-b5776b93.pth",
    50: "https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth",
    101: "https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth",
}


def _backbone_weights(path: Path) -> dict:
    """The state dict of an ImageNet backbone file; a whole model's weights (our .safetensors, an official
    segmentation checkpoint, a training state), which belong in ``init_checkpoint``, are named as such."""
    start_from = f"to start from that model, set init_checkpoint: {path} instead of pretrained_backbone"
    if path.suffix == ".safetensors":
        raise CheckpointError(f"{path} holds a whole model's weights, not ImageNet backbone weights; {start_from}")
    raw = load_weights_only(path, "ImageNet backbone weights")
    if isinstance(raw, dict) and isinstance(raw.get("model"), dict):  # {'model': …}: a segmentation checkpoint
        what = "a training state of idrnet train" if "optimizer" in raw else "a whole segmentation model's checkpoint"
        raise CheckpointError(f"{path} is {what}, not ImageNet backbone weights; {start_from}")
    return raw["state_dict"] if isinstance(raw, dict) and "state_dict" in raw else raw


def load_resnet_v1c_imagenet(backbone: nn.Module, source: bool | str) -> None:
    """Load open-mmlab ResNet-V1c ImageNet weights into a :class:`ResNetV1c` backbone.

    ``source`` is ``True`` (the official URL for the backbone's depth, cached) or a path/URL. The
    classifier (``fc.*``) is dropped; every backbone tensor must be present.
    """
    depth = getattr(backbone, "depth")
    if source is True:
        if depth not in RESNET_V1C_URLS:
            raise InputError(f"no official ImageNet V1c weights for ResNet-{depth}; pass a file path")
        source = RESNET_V1C_URLS[depth]
    path = fetch(str(source))
    raw = _backbone_weights(path)
    state = {resnet_key_to_timm(k): v for k, v in raw.items() if not k.startswith("fc.")}
    expected = backbone.body.state_dict()
    missing = sorted(k for k in expected if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path} is not a ResNet-{depth} V1c ImageNet checkpoint: missing {missing[:10]}, unexpected {unexpected[:10]}"
        )
    backbone.body.load_state_dict(state, strict=False)


# Tensors of the classification head in open-mmlab's HRNetV2 ImageNet files: not part of the backbone.
_HRNET_CLASSIFIER_PREFIXES = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.", "fc.")


def load_hrnet_imagenet(backbone: nn.Module, source: str) -> None:
    """Load open-mmlab's HRNetV2 ImageNet weights (a path or URL, cached) into an :class:`HRNetV2`.

    The names are the backbone's own; the classification head's tensors are skipped and every backbone
    tensor must be present with its shape.
    """
    path = fetch(str(source))
    raw = _backbone_weights(path)
    state = {k: v for k, v in raw.items() if not k.startswith(_HRNET_CLASSIFIER_PREFIXES)}
    expected = backbone.state_dict()
    missing = sorted(k for k in expected if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path} is not an ImageNet checkpoint of {getattr(backbone, 'arch', 'this HRNet')}: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")
    backbone.load_state_dict(state, strict=False)
