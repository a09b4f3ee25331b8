"""Choose how a segmentor runs: precision (fp32, bf16, int8) × backend (eager, compile, ONNX Runtime,
OpenVINO). :func:`accelerate` turns a model into a callable with the segmentor interface the inference
code uses (``__call__``/``forward_scores``, optionally ``forward_logits``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import torch

from ..errors import InputError
from .backends import BACKENDS as BACKEND_INFO
from .backends import PRECISIONS, combination_problem

Precision = Literal["fp32", "bf16", "int8"]
Backend = Literal["eager", "compile", "onnxruntime", "openvino"]
BACKENDS: tuple[str, ...] = tuple(BACKEND_INFO)
BACKEND_ENV = "IDRNET_BACKEND"  # overrides the automatic choice ("eager" keeps tests free of compile time)

# How far each precision may move a model's output from fp32 eager on the same input (the tests hold
# every path to these): the norm-relative logit error and the share of pixels keeping their label.
TOLERANCES: dict[str, dict[str, float]] = {
    "fp32": {"norm_relative": 1e-4, "same_label": 0.999},
    "bf16": {"norm_relative": 3e-2, "same_label": 0.98},
    "int8": {"norm_relative": 6e-2, "same_label": 0.95},
}

# The automatic backend per precision on a CPU, chosen by the measurements in docs/benchmarks.md
# (2026-11-26, UPerNet-IDRNet 384×384: fp32 compile ×0.76 of eager; int8 ×0.42–0.47 on all three
# backends; on trained IDRNet-FCN models int8 OpenVINO (IDRNet arithmetic kept in fp32) lost 0.30 mIoU,
# ONNX Runtime 0.97, PT2E 1.20; bf16 compile ×0.21–0.29 on an AMX Xeon).
CPU_DEFAULTS: dict[str, str] = {"fp32": "compile", "bf16": "compile"}
# For int8 (CPU only) the automatic choice takes the first installed backend in this order (each is an
# extra); with none installed, the first, whose missing extra is then named.
INT8_FALLBACKS: tuple[tuple[str, str], ...] = (("openvino", "openvino"), ("onnxruntime", "onnxruntime"),
                                               ("compile", "torchao"))


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def resolve_backend(precision: str, backend: str | None, device: str | torch.device = "cpu") -> str:
    """The backend to use: ``backend`` itself, or for ``None``/``"auto"`` the environment's
    ``IDRNET_BACKEND`` or the fastest measured path (CPU) / eager (GPU)."""
    _check_precision(precision)
    if backend in (None, "auto"):
        backend = os.environ.get(BACKEND_ENV)
        if backend:
            backend = "compile" if precision == "int8" and backend == "eager" else backend
        elif precision == "int8":
            backend = next((b for b, module in INT8_FALLBACKS if _installed(module)), INT8_FALLBACKS[0][0])
        else:
            backend = CPU_DEFAULTS[precision] if torch.device(device).type == "cpu" else "eager"
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; expected auto or one of {', '.join(BACKENDS)}")
    check_combination(precision, backend, device)
    return backend


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")


def check_combination(precision: str, backend: str, device: str | torch.device = "cpu") -> None:
    """Refuse, with the reason, the combinations idrnet does not run (see :mod:`.backends`)."""
    problem = combination_problem(precision, backend, torch.device(device).type)
    if problem is not None:
        raise InputError(problem)


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX) for PyTorch's convolutions.

    oneDNN's own check (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) also says yes on plain AVX-512
    CPUs, where it emulates bf16 more slowly than fp32, so the instruction sets are asked directly."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(check is not None for check in checks):
        return any(bool(check()) for check in checks if check is not None)
    try:  # older PyTorch without the torch.cpu probes
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def runnable_pairs(precisions: Sequence[str], backends: Sequence[str], device: str | torch.device = "cpu",
                   report: Callable[[str], None] | None = print) -> list[tuple[str, str]]:
    """The (precision, backend) pairs idrnet runs, in order; each refused one is passed to ``report``
    with its reason."""
    pairs = []
    for precision in dict.fromkeys(precisions):
        for backend in dict.fromkeys(backends):
            try:
                check_combination(precision, backend, device)
            except ValueError as err:
                if report is not None:
                    report(f"skipped {precision} {backend}: {err}")
                continue
            pairs.append((precision, backend))
    return pairs


def accelerate(
    model: Any,
    precision: str = "fp32",
    backend: str | None = "auto",
    calibration: Sequence[torch.Tensor] | None = None,
    device: str | torch.device = "cpu",
    threads: int | None = None,
    data_description: str | None = None,
    seed: int = 0,
) -> Any:
    """``model`` (a segmentor, an attached model, or a loaded ``.onnx`` file) ready to run with
    ``precision`` on ``backend``. int8 needs ``calibration``: normalised ``(1, 3, h, w)`` images
    preprocessed as the served ones will be. Exported intermediate files live only while building.

    The result has ``precision`` and ``backend`` attributes telling what runs (a failed compile falls
    back to eager, see :class:`~.torch_runtime.TorchRuntime`)."""
    from .graph_model import GraphSegmentor

    _check_precision(precision)
    if isinstance(model, GraphSegmentor):
        _check_graph_precision(model, precision)  # before the backend's checks, which would name a backend not asked for
        if backend in (None, "auto"):
            backend = "openvino" if precision == "bf16" else "onnxruntime"  # ONNX Runtime has no bf16 convolutions
    backend = resolve_backend(precision, backend, device)
    if precision == "int8" and not calibration and not isinstance(model, GraphSegmentor):
        raise InputError("precision=int8 needs calibration images (calibration=DIR_OR_CONFIG)")
    if isinstance(model, GraphSegmentor):
        return _accelerate_graph(model, precision, backend, threads)
    model = model.eval()
    _require_backend(precision, backend)
    builder = BACKEND_INFO[backend].builder
    return globals()[builder](model, precision, backend, calibration, torch.device(device), threads, data_description, seed)


# The builders the backend records name (``BackendInfo.builder``): one a way of running a model; the
# packages each needs were checked by accelerate before it calls one.
def build_torch(model: Any, precision: str, backend: str, calibration: Sequence[torch.Tensor] | None,
                device: torch.device, threads: int | None, data_description: str | None, seed: int) -> Any:
    """eager / compile: PyTorch itself (fp32, bf16 autocast), or PT2E int8 for ``compile``."""
    if precision == "int8":
        from .int8 import Pt2eSegmentor

        return Pt2eSegmentor(model, calibration or [], seed)
    from .torch_runtime import TorchRuntime

    if precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        # Measured on an AVX2 CPU: a ResNet-50 UPerNet forward at 384×384 took minutes, not seconds.
        warnings.warn("this CPU has no bf16 instructions (AVX512-BF16 or AMX): PyTorch emulates bf16 "
                      "convolutions, which is many times slower than fp32 here; use precision=fp32 "
                      "(or int8)", RuntimeWarning, stacklevel=3)
    return TorchRuntime(model.to(device), compile=backend == "compile",
                        dtype=torch.bfloat16 if precision == "bf16" else None)


@contextlib.contextmanager
def _exported(model: Any, device: torch.device, data_description: str | None) -> Iterator[Path]:
    """``model`` exported to an ONNX file that lives while the runner is built (the runner keeps what it
    needs in memory); the model goes back to ``device``."""
    from .export import export_onnx

    with tempfile.TemporaryDirectory(prefix="idrnet_runtime_") as tmp:
        path = export_onnx(model.cpu(), Path(tmp) / "model.onnx", data_description=data_description)
        model.to(device)
        yield path


def build_onnxruntime(model: Any, precision: str, backend: str, calibration: Sequence[torch.Tensor] | None,
                      device: torch.device, threads: int | None, data_description: str | None, seed: int) -> Any:
    """ONNX Runtime on a file exported for the purpose (QDQ-quantised for int8)."""
    from .onnx_model import OnnxSegmentor

    with _exported(model, device, data_description) as path:
        if precision == "int8":
            from .int8 import quantize_onnx

            path = quantize_onnx(path, path.with_name("int8.onnx"), calibration or [])
        return OnnxSegmentor(path, device, threads=threads)


def build_openvino(model: Any, precision: str, backend: str, calibration: Sequence[torch.Tensor] | None,
                   device: torch.device, threads: int | None, data_description: str | None, seed: int) -> Any:
    """OpenVINO on a file exported for the purpose (NNCF-quantised for int8, bf16 where the CPU has it)."""
    from .openvino_model import OpenVinoSegmentor

    with _exported(model, device, data_description) as path:
        return OpenVinoSegmentor(path, model.config, precision, calibration, threads, data_description)


def _require_backend(precision: str, backend: str) -> None:
    """Name a missing extra before the export, which takes seconds to minutes, rather than after it
    (export_onnx names a missing onnx/onnxscript itself, before it starts)."""
    from ..optional import require

    record = BACKEND_INFO[backend]
    for module in record.requires + (record.int8_requires if precision == "int8" else ()):
        require(module, f"backend={backend}" + (" with precision=int8" if precision == "int8" else ""))


def _check_graph_precision(model: Any, precision: str) -> None:
    """An exported file runs in its own precision; OpenVINO can also run an fp32 file in bf16."""
    own = model.precision
    if precision in ("fp32", own) or (precision == "bf16" and own == "fp32"):
        return
    if precision == "int8":
        raise InputError(f"{model.source} is an {own} ONNX file; for int8 write one with `idrnet export "
                         "--precision int8 --calibration DIR_OR_CONFIG`, or start from the .safetensors model")
    raise InputError(f"{model.source} is an {own} ONNX file, which runs as {own}; for {precision} start from the "
                     ".safetensors model or an fp32 ONNX file")


# The backends that run an exported .onnx file as it is (the others run PyTorch modules).
GRAPH_BACKENDS = ("onnxruntime", "openvino")


def _accelerate_graph(model: Any, precision: str, backend: str, threads: int | None) -> Any:
    """An ``.onnx`` file already loaded by ONNX Runtime: run as it is, or by OpenVINO."""
    from .onnx_model import OnnxSegmentor

    if not isinstance(model, OnnxSegmentor) or backend not in GRAPH_BACKENDS:
        raise InputError(f"{model.source} is an exported model: it runs with backend=onnxruntime or openvino, not {backend}")
    if backend == "onnxruntime":
        return model if not threads else OnnxSegmentor(model.path, threads=threads)
    from .openvino_model import OpenVinoSegmentor

    if precision == "bf16":
        return OpenVinoSegmentor(model.path, model.config, "bf16", None, threads, model.data_description)
    runner = OpenVinoSegmentor(model.path, model.config, "fp32", None, threads, model.data_description)
    runner.precision = runner.effective_precision = model.precision  # OpenVINO runs a QDQ file's int8 as it is
    return runner
