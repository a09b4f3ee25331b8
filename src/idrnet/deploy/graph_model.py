"""What every compiled or exported segmentor shares: the interface the inference code calls."""

from __future__ import annotations

from typing import Any

import torch

from ..config import from_dict, parse_json
from ..data.description import ignore_label
from ..errors import InputError


def stored_config(text: str, where: str, attached: bool = False, description: str | None = None) -> Any:
    """The model config stored as JSON beside an exported graph (ours, or an :class:`AttachConfig`), with
    the ignore label of the data ``description`` stored beside it."""
    from ..models.config import ModelConfig, record_from_storage, upgrade_stored_config

    record = parse_json(text, where)
    if attached:
        from ..dropin.attach import AttachConfig

        return from_dict(AttachConfig, record_from_storage(record, description, where), where=where)
    return from_dict(ModelConfig, record_from_storage(upgrade_stored_config(record), description, where), where=where)


class GraphSegmentor:
    """A segmentor frozen into a graph (ONNX Runtime session, OpenVINO model, int8 PyTorch graph).

    Calling it returns logits ``(B, K, H, W)`` at the input's size, like
    :class:`~idrnet.models.segmentor.Segmentor`. It has no head-resolution output, so whole-image
    inference resizes from the input size (a second bilinear resize when a test-time resize was
    applied; differences are at the 1e-3 level of logits). Subclasses implement :meth:`__call__`.
    """

    size_divisor = 1
    training = False  # a frozen graph is always in eval mode
    precision = "fp32"
    backend = "graph"

    def __init__(self, config: Any, source: str) -> None:
        self.config = config
        self.num_classes = config.num_classes
        self.align_corners = config.align_corners
        self.ignore_index = ignore_label(config.ignore_index)
        self.source = source

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def eval(self) -> "GraphSegmentor":
        """No-op (API compatibility with nn.Module)."""
        return self

    def train(self, mode: bool = True) -> "GraphSegmentor":
        """A frozen graph has no training mode; only ``train(False)`` is accepted."""
        if mode:
            raise InputError(f"{self.source} is an exported (inference-only) model; it cannot be trained")
        return self

    def to(self, device) -> "GraphSegmentor":  # noqa: ARG002 - the graph was built for its device
        """No-op (the graph was built for its device)."""
        return self

    def forward_scores(self, images: torch.Tensor, probs_before_resize: bool = False) -> torch.Tensor:
        """Logits (or probabilities) at the input's size."""
        scores = self(images)
        return scores.softmax(dim=1) if probs_before_resize else scores
