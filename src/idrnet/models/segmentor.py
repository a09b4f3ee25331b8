"""The segmentor: backbone → decode head (+ auxiliary head for training)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.description import ignore_label
from .config import ModelConfig
from .heads import AuxiliaryLogits, DecodeHead
from .model_folder import HubMethods


def pad_to_multiple(images: torch.Tensor, divisor: int) -> torch.Tensor:
    """Zero-pad ``(B, C, H, W)`` at the bottom and right to multiples of ``divisor`` (no-op for 1)."""
    if divisor <= 1:
        return images
    h, w = images.shape[2:]
    return F.pad(images, (0, (-w) % divisor, 0, (-h) % divisor))


@dataclass
class TrainOutputs:
    """Logits of one training forward at the heads' resolutions (losses are computed outside): the
    final logits, every auxiliary output with its loss weight (the auxiliary FCN head as ``aux``, then
    the decode head's own), and the decode head's state for its statistics hook."""

    logits: torch.Tensor
    auxiliary: dict[str, AuxiliaryLogits] = field(default_factory=dict)
    head_state: Any = None


class Segmentor(nn.Module, HubMethods):
    """A semantic segmentation network.

    ``model(images)`` returns class logits ``(B, K, H, W)`` at the input's size, in train and eval mode.
    ``forward_logits`` returns them at the head's own resolution (for sliding-window inference and
    softmax-before-resize). Training goes through :func:`idrnet.training_losses`.
    """

    def __init__(
        self,
        backbone: nn.Module,
        decode_head: DecodeHead,
        auxiliary_head: nn.Module | None,
        config: ModelConfig,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head
        self.auxiliary_head = auxiliary_head
        self.config = config
        self.num_classes = config.num_classes
        self.ignore_index = ignore_label(config.ignore_index)
        self.align_corners = config.align_corners

    def compile_parts(self) -> list[nn.Module]:
        """The modules ``compile: true`` compiles in place (keys and checkpoints unchanged): backbone,
        auxiliary head, and the decode head unless it replays a saved RNG state (IDRNet's diagnostics
        replay dropout masks, which compiled random number generation does not promise to reproduce)."""
        head = None if self.decode_head.replays_random_state else self.decode_head
        return [m for m in (self.backbone, self.auxiliary_head, head) if m is not None]

    @property
    def size_divisor(self) -> int:
        """Inputs are zero-padded (bottom/right) to a multiple of this inside ``forward`` (1: no padding)."""
        return int(getattr(self.backbone, "size_divisor", 1))

    def forward_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits at the decode head's resolution (1/8 or 1/4 of the input).

        For a backbone with ``size_divisor`` > 1 the input must already be padded (``forward`` does it).
        """
        return self.decode_head(self.backbone(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, H, W)`` bilinearly resized to the input's size (any size: padded inside
        when the backbone needs it)."""
        return self.forward_scores(images, probs_before_resize=False)

    def forward_scores(self, images: torch.Tensor, probs_before_resize: bool = False) -> torch.Tensor:
        """Logits (or, with ``probs_before_resize``, softmax probabilities computed at the head's
        resolution) resized to the input's size."""
        h, w = images.shape[2:]
        padded = pad_to_multiple(images, self.size_divisor)
        scores = self.forward_logits(padded)
        if probs_before_resize:
            scores = scores.softmax(dim=1)
        scores = F.interpolate(scores, size=padded.shape[2:], mode="bilinear", align_corners=self.align_corners)
        return scores[:, :, :h, :w]

    def forward_train(self, images: torch.Tensor) -> TrainOutputs:
        """All logits a training step supervises, plus the decode head's state for its statistics."""
        features = self.backbone(images)
        auxiliary: dict[str, AuxiliaryLogits] = {}
        if self.auxiliary_head is not None:
            auxiliary["aux"] = AuxiliaryLogits(self.auxiliary_head(features[2]), self.config.auxiliary.weight)
        head = self.decode_head.forward_train(features)
        auxiliary.update(head.auxiliary)
        return TrainOutputs(head.logits, auxiliary, head.state)
