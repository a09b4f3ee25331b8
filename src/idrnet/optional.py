"""Optional dependencies (extras): imported only when used, with a one-line message when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

# module → the extra of `pip install "idrnet[EXTRA]"` that provides it
EXTRAS = {"onnx": "deploy", "onnxruntime": "deploy", "onnxscript": "deploy", "segmentation_models_pytorch": "smp",
          "fastapi": "serve", "uvicorn": "serve", "multipart": "serve", "python_multipart": "serve",
          "openvino": "openvino", "nncf": "openvino", "torchao": "int8", "huggingface_hub": "hub"}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = EXTRAS.get(module.split(".")[0], module)
        raise MissingExtraError(
            f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not installed: "
            f"pip install 'idrnet[{extra}]'"
        ) from err
