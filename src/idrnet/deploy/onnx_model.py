"""Run an exported ONNX segmentor through ONNX Runtime with the same interface the inference code uses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .export import ONNX_ATTACH_KEY, ONNX_CONFIG_KEY, ONNX_DATA_KEY, ONNX_FIXED_SIZE_KEY, ONNX_PRECISION_KEY
from .graph_model import GraphSegmentor, stored_config


class OnnxSegmentor(GraphSegmentor):
    """An ``.onnx`` file written by :func:`idrnet.deploy.export.export_onnx` (fp32, or int8 by
    :func:`idrnet.deploy.int8.quantize_onnx`), run by ONNX Runtime with ``threads`` intra-op threads."""

    backend = "onnxruntime"

    def __init__(self, path: str | os.PathLike, device: str | torch.device = "cpu", threads: int | None = None) -> None:
        from ..models.checkpoint import CheckpointError
        from ..optional import require

        ort = require("onnxruntime", "running an ONNX model")
        path = Path(path)
        if not path.is_file():
            from ..file_errors import not_a_file

            raise not_a_file(path)
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
        description = meta.get(ONNX_DATA_KEY)
        if ONNX_CONFIG_KEY in meta:
            config = stored_config(meta[ONNX_CONFIG_KEY], f"{path}:metadata", description=description)
        elif ONNX_ATTACH_KEY in meta:
            config = stored_config(meta[ONNX_ATTACH_KEY], f"{path}:metadata", attached=True, description=description)
        else:
            raise InputError(f"{path} was not written by idrnet export (no {ONNX_CONFIG_KEY} metadata)")
        super().__init__(config, str(path))
        self.data_description: str | None = description
        self.precision = meta.get(ONNX_PRECISION_KEY, "fp32")
        fixed = meta.get(ONNX_FIXED_SIZE_KEY)
        self.fixed_size: tuple[int, int] | None = tuple(json.loads(fixed)) if fixed else None
        self.path = path

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, H, W)`` at the input's size."""
        if self.fixed_size is not None and tuple(images.shape[2:]) != self.fixed_size:
            h, w = self.fixed_size
            raise InputError(f"{self.path} was exported for {h}x{w} inputs only (--fixed-size), not "
                             f"{images.shape[2]}x{images.shape[3]}: resize to it, or use slide inference with that crop")
        array = np.ascontiguousarray(images.detach().cpu().numpy().astype(np.float32))
        (logits,) = self.session.run(["logits"], {"images": array})
        return torch.from_numpy(logits).to(images.device)
