"""``idrnet.from_pretrained``: the model of a folder written by
:func:`~idrnet.models.model_folder.save_pretrained`, local or on the Hugging Face Hub (``hf-hub:user/repo``,
found by :func:`~idrnet.models.model_folder.resolve`). Reading never unpickles."""

from __future__ import annotations

import os

import torch

from ..models.model_folder import resolve


def from_pretrained(source: str | os.PathLike, revision: str | None = None) -> torch.nn.Module:
    """The model of a folder written by :func:`~idrnet.models.model_folder.save_pretrained` or of a Hub repository (``user/repo``,
    ``hf-hub:user/repo``), in eval mode (SMP/torchvision models rebuilt from their config line)."""
    from .create import create_model

    return create_model(str(resolve(source, revision)))
