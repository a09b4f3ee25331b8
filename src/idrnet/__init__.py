"""idrnet: IDRNet (NeurIPS 2023) semantic segmentation, compatible with the official checkpoints."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name → module that defines it. Imported on first use, so that `idrnet --help` and the
# command line's argument parsing don't pay for torch, timm and OpenCV.
_EXPORTS = {
    "attach": "idrnet.dropin",
    "create_model": "idrnet.apis.create",
    "export_onnx": "idrnet.deploy.export",
    "from_pretrained": "idrnet.apis.hub",
    "save_pretrained": "idrnet.models.model_folder",
    "push_to_hub": "idrnet.models.model_folder",
    "Predictor": "idrnet.apis.predictor",
    "robustness": "idrnet.apis.robustness",
    "wrap_ddp": "idrnet.engine.ddp",
    "training_losses": "idrnet.engine.losses",
    "MODEL_ZOO": "idrnet.models",
    "ModelConfig": "idrnet.models",
    "Segmentor": "idrnet.models",
    "build_model": "idrnet.models",
    "get_entry": "idrnet.models",
    "list_models": "idrnet.models",
    "save_checkpoint": "idrnet.models.checkpoint",
    "count_parameters": "idrnet.models.parameters",
}

# Names of idrnet 0.1, kept for one release: each warns and points to its successor (docs/design.md, "Names").
_DEPRECATED = {
    "Segmenter": "idrnet.apis.predictor",  # → Predictor (too close to the Segmentor module)
    "training_loss": "idrnet.engine.losses",  # → training_losses(...)["total"]
    "loss_terms": "idrnet.engine.losses",  # → training_losses(..., outputs=outputs)
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _DEPRECATED:  # not cached: every use warns
        return getattr(importlib.import_module(_DEPRECATED[name]), name)
    raise AttributeError(f"module 'idrnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
