"""Run an exported ONNX segmentor through ONNX Runtime with the same interface the inference code uses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..config import from_dict
from ..models.config import ModelConfig
from .export import ONNX_ATTACH_KEY, ONNX_CONFIG_KEY, ONNX_DATA_KEY


class OnnxSegmentor:
    """An ``.onnx`` file written by :func:`idrnet.deploy.export.export_onnx`, run by ONNX Runtime.

    Calling it returns logits at the input size, like :class:`~idrnet.models.segmentor.Segmentor`.
    It has no head-resolution output, so whole-image inference resizes from the input size (a second
    bilinear resize when a test-time resize was applied; differences are at the 1e-3 level of logits).
    """

    size_divisor = 1
    training = False  # an exported graph is always in eval mode

    def __init__(self, path: str | os.PathLike, device: str | torch.device = "cpu", threads: int | None = None) -> None:
        from ..models.checkpoint import CheckpointError
        from ..models.config import upgrade_stored_config
        from ..optional import require

        ort = require("onnxruntime", "running an ONNX model")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        device = torch.device(device)
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # noqa: BLE001 - ONNX Runtime's own error types: name the file
            raise CheckpointError(f"{path}: not a loadable ONNX model ({' '.join(str(err).split())[:200]})") from err
        meta = self.session.get_modelmeta().custom_metadata_map
        if ONNX_CONFIG_KEY in meta:
            self.config = from_dict(ModelConfig, upgrade_stored_config(json.loads(meta[ONNX_CONFIG_KEY])),
                                    where=f"{path}:metadata")
        elif ONNX_ATTACH_KEY in meta:
            from ..dropin.attach import AttachConfig

            self.config = from_dict(AttachConfig, json.loads(meta[ONNX_ATTACH_KEY]), where=f"{path}:metadata")
        else:
            raise ValueError(f"{path} was not written by idrnet export (no {ONNX_CONFIG_KEY} metadata)")
        self.data_meta: str | None = meta.get(ONNX_DATA_KEY)
        self.num_classes = self.config.num_classes
        self.align_corners = self.config.align_corners
        self.ignore_index = self.config.ignore_index
        self.path = path

    def eval(self) -> "OnnxSegmentor":
        """No-op (API compatibility with nn.Module)."""
        return self

    def train(self, mode: bool = True) -> "OnnxSegmentor":
        """An exported graph has no training mode; only ``train(False)`` is accepted."""
        if mode:
            raise ValueError(f"{self.path} is an exported (inference-only) model; it cannot be trained")
        return self

    def to(self, device) -> "OnnxSegmentor":  # noqa: ARG002 - the session's providers decide
        """No-op (the session was created for its device)."""
        return self

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, H, W)`` at the input's size."""
        array = np.ascontiguousarray(images.detach().cpu().numpy().astype(np.float32))
        (logits,) = self.session.run(["logits"], {"images": array})
        return torch.from_numpy(logits).to(images.device)

    def forward_scores(self, images: torch.Tensor, probs_before_resize: bool = False) -> torch.Tensor:
        """Logits (or probabilities) at the input's size."""
        scores = self(images)
        return scores.softmax(dim=1) if probs_before_resize else scores
