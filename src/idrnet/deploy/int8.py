"""Post-training static int8 quantisation, calibrated on the user's images.

Three routes, one per backend:

- ``compile``: PT2E (``torch.export`` → torchao's X86InductorQuantizer → ``torch.compile``), int8
  convolutions and linear layers lowered by Inductor;
- ``onnxruntime``: ONNX Runtime's static QDQ quantisation of the exported graph;
- ``openvino``: NNCF's post-training quantisation of the OpenVINO model (see :mod:`.openvino_model`).

Only convolutions (and PT2E's linear layers) become int8. IDRNet's relation products, attention and
softmax stay in fp32: they are a small share of the time, and the relation matrices mix class vectors
whose scales differ by orders of magnitude, which a per-tensor int8 scale would flatten.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import torch

from ..errors import InputError
from .export import MAX_SIDE, MIN_SIDE
from .graph_model import GraphSegmentor


def _scores_module(model: torch.nn.Module) -> torch.nn.Module:
    from ..models.segmentor import Segmentor
    from .export import _Scores

    return model if isinstance(model, Segmentor) else _Scores(model)


class Pt2eSegmentor(GraphSegmentor):
    """A model quantised by PT2E and compiled by Inductor (``backend="compile"``, ``precision="int8"``)."""

    precision = "int8"
    backend = "compile"

    def __init__(self, model: torch.nn.Module, calibration: Sequence[torch.Tensor], seed: int = 0) -> None:
        super().__init__(model.config, type(model).__name__)
        self.graph = quantize_pt2e(model, calibration, seed)
        self.compiled = torch.compile(self.graph, dynamic=None)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        from torch._inductor import config as inductor_config

        # Freezing lowers the quantised convolutions to oneDNN int8 kernels with prepacked weights.
        # Patched per call (recompiles for new sizes happen inside calls), never set globally: a
        # global setting would also freeze the weights of a model compiled for training.
        h, w = images.shape[-2:]
        if max(h, w) > MAX_SIDE:
            raise InputError(f"int8 with backend=compile runs images of at most {MAX_SIDE} pixels a side; this "
                             f"one is {w}×{h}: resize it, or use backend=onnxruntime or openvino")
        # A thinner image (a strip) is padded with the mean colour (0 after normalisation) and its scores cropped.
        padded = torch.nn.functional.pad(images, (0, max(0, MIN_SIDE - w), 0, max(0, MIN_SIDE - h)))
        with inductor_config.patch(freezing=True):
            return self.compiled(padded).float()[..., :h, :w]


def quantize_pt2e(model: torch.nn.Module, calibration: Sequence[torch.Tensor], seed: int = 0) -> torch.fx.GraphModule:
    """The int8 graph of ``model`` (input-size logits) with activation ranges observed on ``calibration``
    (normalised ``(1, 3, h, w)`` tensors, any sizes). Deterministic for the same inputs and seed."""
    from ..optional import require

    require("torchao", "int8 quantisation with backend=compile")
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    if not calibration:
        raise InputError("int8 quantisation needs at least one calibration image")
    torch.manual_seed(seed)
    module = _scores_module(model.eval().cpu())
    example = torch.randn(2, 3, 256, 256)
    dims = {0: torch.export.Dim("batch", min=1, max=1024),
            2: torch.export.Dim("height", min=MIN_SIDE, max=MAX_SIDE),
            3: torch.export.Dim("width", min=MIN_SIDE, max=MAX_SIDE)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, (example,), dynamic_shapes={"images": dims})
        quantizer = xiq.X86InductorQuantizer()
        quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(program.module(), quantizer)
        with torch.no_grad():
            for batch in calibration:
                prepared(batch.cpu())
        return convert_pt2e(prepared)


def quantize_onnx(source: str | os.PathLike, output: str | os.PathLike, calibration: Sequence[torch.Tensor]) -> Path:
    """Write an int8 (QDQ, per-channel weights) copy of the fp32 ONNX file ``source`` calibrated on
    ``calibration``; its metadata (config, data description) is kept and ``idrnet_precision`` set to int8.
    Written atomically."""
    from ..atomic import atomic_path
    from ..optional import require
    from .export import ONNX_PRECISION_KEY, set_metadata

    onnx = require("onnx", "int8 ONNX quantisation")
    require("onnxruntime", "int8 ONNX quantisation")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise InputError("int8 quantisation needs at least one calibration image")
    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([b.cpu().numpy() for b in calibration])

        def get_next(self):  # noqa: ANN202 - ONNX Runtime's protocol
            item = next(self.items, None)
            return None if item is None else {"images": item}

    reader = Reader()
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="idrnet_int8_") as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantized), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"])
        proto = onnx.load(str(quantized))
        original = onnx.load(str(source), load_external_data=False)
        set_metadata(proto, {**{p.key: p.value for p in original.metadata_props}, ONNX_PRECISION_KEY: "int8"})
        with atomic_path(output) as out:
            onnx.save(proto, out)
    return output
