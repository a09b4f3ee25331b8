"""What each way of running a model offers, as data: the precisions it runs (and why not the others) and
the devices. The command line's choices, the combination checks and their messages read this one record
(the extra that installs a backend is :data:`idrnet.optional.EXTRAS`'s). No torch import: the CLI builds
its parser from it."""

from __future__ import annotations

from dataclasses import dataclass, field

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class BackendInfo:
    """One backend: ``precisions`` it runs, ``devices`` (device types), ``builder`` (the function of
    :mod:`idrnet.deploy.runtime` that makes a model run this way; named, so that this record imports no
    torch), ``refused`` precision → why not; ``requires`` the Python packages it imports, and
    ``int8_requires`` those int8 adds (the extra that installs each is :data:`idrnet.optional.EXTRAS`'s)."""

    name: str
    precisions: tuple[str, ...]
    devices: tuple[str, ...]
    builder: str
    refused: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    int8_requires: tuple[str, ...] = ()


BACKEND_RECORDS: tuple[BackendInfo, ...] = (
    BackendInfo("eager", ("fp32", "bf16"), ("cpu", "cuda"), "build_torch",
                refused={"int8": "eager PyTorch would only simulate int8 arithmetic in fp32"}),
    BackendInfo("compile", ("fp32", "bf16", "int8"), ("cpu", "cuda"), "build_torch", int8_requires=("torchao",)),
    BackendInfo("onnxruntime", ("fp32", "int8"), ("cpu", "cuda"), "build_onnxruntime", refused={"bf16": "its CPU provider has no bf16 convolutions"},
                requires=("onnxruntime",)),
    BackendInfo("openvino", ("fp32", "bf16", "int8"), ("cpu",), "build_openvino", requires=("openvino",),
                int8_requires=("nncf",)),
)
BACKENDS: dict[str, BackendInfo] = {b.name: b for b in BACKEND_RECORDS}
# int8 is calibrated static quantisation for CPU kernels, whatever the backend
CPU_ONLY_PRECISIONS: tuple[str, ...] = ("int8",)


def combination_problem(precision: str, backend: str, device_type: str) -> str | None:
    """Why idrnet does not run ``precision`` on ``backend`` on a ``device_type`` device, or None."""
    info = BACKENDS[backend]
    if precision not in info.precisions:
        others = [b.name for b in BACKEND_RECORDS if precision in b.precisions]
        reason = info.refused.get(precision, "not offered")
        return f"precision {precision} does not run on backend {backend} ({reason}); use {', '.join(others)}"
    if device_type not in info.devices:
        return f"backend {backend} runs on the {' or '.join(d.upper() for d in info.devices)}, not on {device_type}"
    if precision in CPU_ONLY_PRECISIONS and device_type != "cpu":
        return f"precision {precision} (with any backend, {backend} too) runs on the CPU, not on {device_type}"
    return None
