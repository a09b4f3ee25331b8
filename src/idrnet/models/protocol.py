"""The interface every model the inference tools run offers, written down: our
:class:`~idrnet.models.segmentor.Segmentor`, other libraries' models (:class:`~idrnet.dropin.WrappedModel`
and attached ones), the eager/compiled/bf16 runtime (:class:`~idrnet.deploy.torch_runtime.TorchRuntime`)
and frozen graphs (ONNX Runtime, OpenVINO, int8: :class:`~idrnet.deploy.graph_model.GraphSegmentor`).
:class:`idrnet.Predictor`, evaluation, ``idrnet test``/``compare`` and the server need nothing else."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class SegmentationModel(Protocol):
    """What inference needs of a model.

    ``config``: its settings (``config.inference`` the default whole/slide inference, ``config.num_classes``);
    ``ignore_index``: the label of unlabelled pixels it was trained with; ``align_corners`` of its
    resizes; ``size_divisor``: inputs are padded to a multiple of it; ``training``: whether in train mode.
    Calling it with normalised images ``(B, 3, H, W)`` gives logits ``(B, K, H, W)``; ``forward_scores``
    gives them at the input's size (probabilities with ``probs_before_resize``).
    """

    config: Any
    num_classes: int
    ignore_index: int
    align_corners: bool
    size_divisor: int
    training: bool

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def forward_scores(self, images: torch.Tensor, probs_before_resize: bool = False) -> torch.Tensor: ...

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...

    def to(self, device: Any) -> Any: ...
