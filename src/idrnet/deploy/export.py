"""Export a segmentor to ONNX with dynamic batch, height and width."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..atomic import atomic_path
from ..config import to_dict
from ..models.checkpoint import deprecated_keyword, description_json
from ..models.config import record_for_storage
from ..models.segmentor import Segmentor

# Keys of the ONNX model's metadata_props.
ONNX_CONFIG_KEY = "idrnet_config"
ONNX_ATTACH_KEY = "idrnet_attach_config"  # the AttachConfig of a model IDRNet was attached to
ONNX_DATA_KEY = "idrnet_data"
ONNX_PRECISION_KEY = "idrnet_precision"  # "int8" in a file quantised by idrnet (absent: fp32)


class _Scores(torch.nn.Module):
    """``forward`` = the model's ``forward_scores``: logits at the input's size as one tensor (an
    attached model's own ``forward`` may return a dict, as torchvision's do)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.forward_scores(images)


def export_onnx(
    model: torch.nn.Module,
    path: str | os.PathLike,
    example_size: tuple[int, int] = (256, 256),
    min_size: int = 32,
    max_size: int = 8192,
    data_description: Any = None,
    opset: int | None = None,
    *,
    data_meta: str | None = None,
) -> Path:
    """Write ``model`` (eval mode, ``forward``: images → logits at the input size) as an ONNX file.

    The graph takes ``images`` ``(B, 3, H, W)`` float32 (normalised) with dynamic B, H and W
    (``min_size`` ≤ H, W ≤ ``max_size``) and returns ``logits`` ``(B, K, H, W)``. The model config and
    ``data_description`` (a DataDescription or its JSON: class names, palette, test resize; ``data_meta`` is its
    deprecated name) go into the file's metadata. Written atomically.
    Uses the dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``, needs onnxscript).
    ``model``: one of our segmentors, or a model IDRNet was attached to (:func:`idrnet.attach`).
    """
    from ..optional import require

    data_description = description_json(data_description if data_description is not None else deprecated_keyword(data_meta))
    onnx = require("onnx", "ONNX export")
    require("onnxscript", "ONNX export")
    model = model.eval()
    # A batch of 2 keeps the exporter from specialising the batch size to 1.
    example = torch.randn(2, 3, *example_size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    height = torch.export.Dim("height", min=min_size, max=max_size)
    width = torch.export.Dim("width", min=min_size, max=max_size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = {"opset_version": opset} if opset else {}
        program = torch.onnx.export(
            model if isinstance(model, Segmentor) else _Scores(model), (example,), dynamo=True, input_names=["images"], output_names=["logits"],
            dynamic_shapes={"images": {0: batch, 2: height, 3: width}}, verbose=False, **kwargs,
        )
    proto = program.model_proto
    set_metadata(proto, onnx_metadata(model, data_description))
    with atomic_path(path) as tmp:
        onnx.save(proto, tmp)
    return path


def onnx_metadata(model: torch.nn.Module, data_description: Any = None) -> dict[str, str]:
    """The metadata an exported file carries: the model config (ours or an attach config) and the data
    description."""
    key = ONNX_CONFIG_KEY if isinstance(model, Segmentor) else ONNX_ATTACH_KEY
    data_description = description_json(data_description)
    meta = {key: json.dumps(record_for_storage(to_dict(model.config), data_description))}
    if data_description:
        meta[ONNX_DATA_KEY] = data_description
    return meta


def set_metadata(proto, meta: dict[str, str]) -> None:
    """Write ``meta`` into an ONNX ModelProto's metadata_props (replacing entries of the same keys)."""
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    for key, value in [*kept, *meta.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


# An exported graph agrees with PyTorch when the logits' norm-relative error is at most NORM_TOLERANCE
# and at least LABEL_AGREEMENT of the pixels get the same label. The maximum element-wise error is
# reported but not judged: fp32 reordering in a deep network reaches 1e-4 of the largest logit on
# single elements while the whole output agrees to ~1e-5, and a real mismatch (a wrong operator, a
# baked-in size) moves the norm by far more and changes labels.
NORM_TOLERANCE = 1e-4
LABEL_AGREEMENT = 0.999


def output_agreement(expected: torch.Tensor, got: torch.Tensor) -> dict[str, float]:
    """``norm_relative`` (‖got − expected‖ / ‖expected‖), ``max_relative`` (max |Δ| / max |expected|)
    and ``same_label`` (share of pixels whose argmax agrees) of two logit tensors ``(B, K, H, W)``."""
    if got.shape != expected.shape:
        raise InputError(f"the exported model returned shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}")
    diff = (got.float() - expected.float())
    return {
        "norm_relative": float(diff.norm() / expected.float().norm().clamp_min(1e-12)),
        "max_relative": float(diff.abs().max() / expected.abs().max().clamp_min(1e-12)),
        "same_label": float((got.argmax(1) == expected.argmax(1)).float().mean()),
    }


def agrees(stats: dict[str, float]) -> bool:
    """The export criterion (see :data:`NORM_TOLERANCE`, :data:`LABEL_AGREEMENT`)."""
    return stats["norm_relative"] <= NORM_TOLERANCE and stats["same_label"] >= LABEL_AGREEMENT
