"""OCRNet: object-contextual representations (Yuan et al., ECCV 2020), as the reference builds it.

An FCN head on the third backbone stage predicts soft object regions (one map per class); each class's
representation is the region-weighted average of the pixel features ("spatial gather"); every pixel
then attends to the class representations (the object-context block) and the result, concatenated with
the pixel's own features, gives the final prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import InputError
from ..layers import auxiliary_head, conv_bn_relu
from ..self_attention import SelfAttention
from .base import AuxiliaryLogits, DecodeHead, HeadOutputs


@dataclass
class OCRNetHeadConfig:
    """``feats_channels``: width of the pixel features (3×3 bottleneck); ``transform_channels``: the
    attention width; ``scale``: the sharpness of the region softmax. The object-region head is an FCN of
    ``regions_channels`` on the third stage whose loss has weight ``regions_weight`` (the reference's
    auxiliary head and ``loss_aux``)."""

    type: Literal["ocrnet"] = "ocrnet"
    feats_channels: int = 512
    transform_channels: int = 256
    scale: float = 1.0
    dropout: float = 0.0
    regions_channels: int = 512
    regions_dropout: float = 0.0
    regions_weight: float = 0.4


def spatial_gather(features: torch.Tensor, region_logits: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Class representations ``(B, C, K, 1)``: each class's softmax-over-pixels region map
    (``scale`` sharpens it) weighting the pixel features ``(B, C, H, W)``."""
    weights = F.softmax(scale * region_logits.flatten(2), dim=2)  # (B, K, N)
    context = torch.bmm(weights, features.flatten(2).transpose(1, 2))  # (B, K, C)
    return context.transpose(1, 2).unsqueeze(3)


class ObjectContextBlock(SelfAttention):
    """Pixels attend to the class representations; the context is fused with the pixel features by a
    3×3 conv-BN-ReLU (parameter names as in the official checkpoints)."""

    def __init__(self, channels: int, transform_channels: int) -> None:
        super().__init__(channels, transform_channels, channels)
        self.bottleneck = conv_bn_relu(2 * channels, channels, 3)

    def forward(self, features: torch.Tensor, class_context: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        context = self.attend(features, class_context)
        return self.bottleneck(torch.cat([context, features], dim=1))


class OCRNetHead(DecodeHead):
    """OCRNet's head: object regions from the third stage, object context on the last stage."""

    # Official checkpoints keep the region head as the segmentor's auxiliary decoder.
    official_auxiliary_prefix: ClassVar[str] = "object_regions."

    def __init__(self, in_channels: Sequence[int], num_classes: int, config: OCRNetHeadConfig | None = None) -> None:
        super().__init__()
        config = config or OCRNetHeadConfig()
        if config.scale != 1.0:
            # the reference down-samples the attention queries then, and its reshape only works at 1
            raise InputError(f"ocrnet scale {config.scale}: only 1 is supported (every official config uses 1)")
        self.config = config
        self.scale = float(config.scale)  # a plain attribute: TorchScript cannot read the config dataclass
        self.object_regions = auxiliary_head(in_channels[-2], config.regions_channels, num_classes, config.regions_dropout)
        self.bottleneck = conv_bn_relu(in_channels[-1], config.feats_channels, 3)
        self.object_context_block = ObjectContextBlock(config.feats_channels, config.transform_channels)
        self.decoder = nn.Sequential(nn.Dropout2d(config.dropout), nn.Conv2d(config.feats_channels, num_classes, 1))

    @classmethod
    def from_config(cls, config: OCRNetHeadConfig, in_channels: Sequence[int], num_classes: int, align_corners: bool) -> "OCRNetHead":
        """Build from the typed config."""
        return cls(in_channels, num_classes, config)

    def _run(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        regions = self.object_regions(features[-2])
        pixels = self.bottleneck(features[-1])
        if regions.shape[2:] != pixels.shape[2:]:
            raise ValueError(f"OCRNet needs its two input stages at one resolution, got {regions.shape[2]}x"
                             f"{regions.shape[3]} and {pixels.shape[2]}x{pixels.shape[3]}")
        context = spatial_gather(pixels, regions, self.scale)
        return self.decoder(self.object_context_block(pixels, context)), regions

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits at the last stage's resolution."""
        return self._run(features)[0]

    def forward_train(self, features: Sequence[torch.Tensor]) -> HeadOutputs:
        """The logits and the object regions, supervised as ``aux``."""
        logits, regions = self._run(features)
        return HeadOutputs(logits, {"aux": AuxiliaryLogits(regions, self.config.regions_weight)})
