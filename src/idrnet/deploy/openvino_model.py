"""Run a segmentor with OpenVINO on the CPU: fp32, bf16 (where the CPU has it) or int8 (NNCF)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InputError
from .graph_model import GraphSegmentor


def cpu_capabilities() -> list[str]:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of the CPU (``FP32``, ``BF16``, ``INT8`` …)."""
    from ..optional import require

    ov = require("openvino", "the openvino backend")
    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def is_bf16_hint(hint: Any) -> bool:
    """Whether a compiled model's ``INFERENCE_PRECISION_HINT`` is bf16. OpenVINO hands back an
    ``openvino.Type`` whose ``str`` is ``<Type: 'bfloat16'>`` (2026.4) — never the ``bf16`` the hint was
    set with — so its type name is asked; a plain string (older releases) is read as it is."""
    name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    return name.lower() in ("bf16", "bfloat16")


class OpenVinoSegmentor(GraphSegmentor):
    """An fp32 ONNX file from :func:`idrnet.deploy.export.export_onnx` compiled by OpenVINO for the CPU.

    ``precision``: ``fp32``; ``bf16`` (OpenVINO's inference precision hint; on a CPU without bf16
    instructions OpenVINO runs fp32, which :attr:`effective_precision` reports); ``int8`` (NNCF
    post-training quantisation on ``calibration``, with matrix products and softmax left in fp32 as in
    :mod:`.int8`, and every IDRNet operation other than its convolutions too: :func:`context_arithmetic`).
    """

    backend = "openvino"

    def __init__(self, path: str | os.PathLike, config: Any, precision: str = "fp32",
                 calibration: Sequence[torch.Tensor] | None = None, threads: int | None = None,
                 data_description: str | None = None) -> None:
        from ..optional import require

        ov = require("openvino", "the openvino backend")
        super().__init__(config, str(path))
        self.precision, self.data_description = precision, data_description
        model = ov.convert_model(str(Path(path)))
        if precision == "int8":
            model = _quantize(model, calibration, keep_fp32=context_arithmetic(path))
        elif precision not in ("fp32", "bf16"):
            raise InputError(f"unknown precision {precision!r}; expected fp32, bf16 or int8")
        settings: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                                    "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            settings["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = ov.Core().compile_model(model, "CPU", settings)
        ran_bf16 = is_bf16_hint(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.effective_precision = "bf16" if ran_bf16 else "int8" if precision == "int8" else "fp32"
        if precision == "bf16" and self.effective_precision != "bf16":
            warnings.warn("this CPU has no bf16 instructions: OpenVINO runs the model in fp32", RuntimeWarning, stacklevel=2)
        self._request = self.compiled.create_infer_request()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, H, W)`` at the input's size."""
        array = np.ascontiguousarray(images.detach().cpu().numpy().astype(np.float32))
        logits = self._request.infer({0: array})[0]
        return torch.from_numpy(np.array(logits, copy=True)).to(images.device)


def context_arithmetic(path: str | os.PathLike) -> list[str]:
    """Names of the nodes of an exported ONNX file that belong to an IDRNet head (the drop-in block is one
    too) and are not convolutions: NNCF leaves them in fp32. The rest of the network — the backbone's
    residual additions, a drop-in host model's own layers — is quantised as usual.

    NNCF also quantises the inputs of element-wise operations; inside IDRNet those are the class-mean
    divisions, the relation-weighted sums and the attention, whose int8 rounding cost a trained IDRNet-FCN
    19.8 mIoU (seed 0 of benchmarks/context_ab.py), while int8 convolutions alone cost it 0.5. The head is
    found from PyTorch's exporter metadata; a file exported by another tool has none, and then only
    MatMul and Softmax stay in fp32."""
    try:
        import onnx
    except ImportError:  # an .onnx file given directly, without the deploy extra: types-only scope
        warnings.warn("onnx is not installed (pip install 'idrnet[deploy]'): OpenVINO int8 cannot keep IDRNet's "
                      "arithmetic in fp32 and may lose accuracy", RuntimeWarning, stacklevel=3)
        return []
    names = []
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        if node.op_type == "Conv":
            continue
        hierarchy = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.class_hierarchy"), "")
        # Every node of a drop-in model has idrnet.dropin's wrapper in its hierarchy: match the head only.
        if "'idrnet.models.heads.idrnet.IDRNetHead'" in hierarchy:
            names.append(node.name)
    return names


def _quantize(model: Any, calibration: Sequence[torch.Tensor] | None, keep_fp32: Sequence[str] = ()) -> Any:
    from ..optional import require

    nncf = require("nncf", "int8 with the openvino backend")
    if not calibration:
        raise InputError("int8 quantisation needs at least one calibration image")
    import logging

    logging.getLogger("nncf").setLevel(logging.WARNING)
    data = nncf.Dataset([b.cpu().numpy() for b in calibration])
    return nncf.quantize(model, data, subset_size=len(calibration),
                         ignored_scope=nncf.IgnoredScope(names=list(keep_fp32), types=["MatMul", "Softmax"],
                                                         validate=False))
