"""``hf-hub:user/repo`` wherever a model is named, and ``idrnet.from_pretrained``: the model of a folder
written by :func:`~idrnet.models.model_folder.save_pretrained`, local or on the Hugging Face Hub.
Reading never unpickles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..models.model_folder import WEIGHTS_NAME

HUB_PREFIX = "hf-hub:"


def is_hub_source(source: Any) -> bool:
    """Whether ``source`` is an ``hf-hub:user/repo[@revision]`` model name."""
    return isinstance(source, str) and source.startswith(HUB_PREFIX)


def is_model_folder(source: Any) -> bool:
    """Whether ``source`` is a local model folder (``model.safetensors`` inside: save_pretrained's)."""
    return isinstance(source, (str, os.PathLike)) and Path(source).is_dir() and (Path(source) / WEIGHTS_NAME).is_file()


def is_folder_or_hub(source: Any) -> bool:
    """Whether ``source`` names a model folder, local or on the Hub (:func:`resolve` finds its weights)."""
    return is_hub_source(source) or is_model_folder(source)


def resolve(source: str | os.PathLike, revision: str | None = None) -> Path:
    """The local ``model.safetensors`` of a model folder or a Hub repository (``user/repo`` or
    ``hf-hub:user/repo[@revision]``), downloaded once into the Hugging Face cache; with
    ``HF_HUB_OFFLINE=1`` only the cache is read."""
    text = os.fspath(source)
    if text.startswith(HUB_PREFIX):
        text = text[len(HUB_PREFIX):]
        if "@" in text:
            text, revision = text.split("@", 1)
    if not text.strip():  # Path("") is the current folder, whose model.safetensors would have been taken
        raise InputError(f"{source!r}: no repository named; expected hf-hub:user/repo or a model folder")
    local = Path(text)
    if local.is_dir():
        weights = local / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"{local} holds no {WEIGHTS_NAME}: not a folder written by save_pretrained")
        return weights
    if local.is_file() and local.suffix == ".safetensors":
        return local
    if text.count("/") != 1 or any(c in text for c in " \\:"):
        raise InputError(f"{source}: not a model folder, nor a Hub repository name (user/repo)")
    from ..optional import require

    require("huggingface_hub", "loading models from the Hugging Face Hub")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(hf_hub_download(text, WEIGHTS_NAME, revision=revision))
    except LocalEntryNotFoundError as err:
        raise InputError(f"hf-hub:{text}: not in the local Hugging Face cache and the Hub cannot be reached "
                         f"({'HF_HUB_OFFLINE is set' if os.environ.get('HF_HUB_OFFLINE') else 'offline?'})") from err
    except EntryNotFoundError as err:
        raise InputError(f"hf-hub:{text}: the repository has no {WEIGHTS_NAME}: not saved by idrnet") from err
    except RepositoryNotFoundError as err:
        raise InputError(f"hf-hub:{text}: no such repository (or it is private: log in with `hf auth login`)") from err


def from_pretrained(source: str | os.PathLike, revision: str | None = None) -> torch.nn.Module:
    """The model of a folder written by :func:`~idrnet.models.model_folder.save_pretrained` or of a Hub repository (``user/repo``,
    ``hf-hub:user/repo``), in eval mode (SMP/torchvision models rebuilt from their config line)."""
    from .create import create_model

    return create_model(str(resolve(source, revision)))
