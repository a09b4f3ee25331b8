"""``create_model``: the one call that builds any model, from the zoo, a config or a checkpoint."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from ..data.image_header import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ..errors import InputError
from ..dropin.external import build_any
from ..models.checkpoint import load_state_dict_strict, read_checkpoint
from ..models.config import ModelConfig
from ..models.download import fetch
from ..models.zoo import MODEL_ZOO, get_entry


def create_model(
    name: Any,
    checkpoint: str | os.PathLike | bool | None = None,
    num_classes: int | None = None,
    pretrained_backbone: bool | str | None = None,
    pretrained: bool = False,
) -> torch.nn.Module:
    """Build a segmentor.

    ``name`` is a zoo name (``"idrnet_upernet_resnet50os8_ade20k"``), a :class:`ModelConfig` (or the dict
    a model YAML holds), a YAML model config file, a ``.safetensors`` file written by ``idrnet convert`` or training (config
    and weights in one), or ``hf-hub:user/repo`` (a model shared with ``push_to_hub``).
    ``checkpoint`` is a path or URL (ours or an official SSSegmentation ``.pth``), or ``True`` for the
    zoo entry's official checkpoint (downloaded once and cached; ``"official"`` as on the command line,
    and timm's ``pretrained=True``, mean the same). ``num_classes`` replaces the number of
    classes, for fine-tuning: with weights of another number of classes, every tensor is loaded but those
    sized by the classes (classifiers, IDRNet's class relations and class vectors), which start afresh as
    timm's classifier does.
    ``pretrained_backbone`` overrides the backbone's ImageNet initialisation. A config line of another
    library (``SMPModelConfig``, ``TorchvisionModelConfig``, or a checkpoint trained from one) gives
    that library's model, with IDRNet attached when its ``idrnet`` is true.
    The model is returned in eval mode.
    """
    from ..models.model_folder import is_folder_or_hub, resolve
    from .load import check_model_source

    check_model_source(name)  # nothing at all, an empty name: said before anything else
    if is_folder_or_hub(name):  # a model folder, or hf-hub:user/repo (downloaded once, cached): its model.safetensors
        name = str(resolve(name))
    if pretrained:
        if checkpoint not in (None, True, "official"):
            raise InputError(f"pretrained=True and checkpoint={str(checkpoint)!r} both give the weights: pass one")
        checkpoint = True
    checkpoint = official_checkpoint(checkpoint)
    if is_folder_or_hub(checkpoint):  # weights from a model folder: its model.safetensors
        checkpoint = str(resolve(checkpoint))
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1):
        raise InputError(f"num_classes={num_classes!r}: expected a positive integer")
    config, weights_source, state = _resolve(name, checkpoint)
    if num_classes is not None:
        config = dataclasses.replace(config, num_classes=num_classes)
    elif getattr(config, "num_classes", 0) is None and weights_source is not None:
        # a config that leaves the classes to its dataset (a run's config.yaml), with weights that record them
        state, stored, _ = read_checkpoint(fetch(str(weights_source), _sha256_for(name, weights_source)))
        if getattr(stored, "num_classes", None) is not None:
            config = dataclasses.replace(config, num_classes=stored.num_classes)
    ours = isinstance(config, ModelConfig)
    if pretrained_backbone is not None and ours:
        config = dataclasses.replace(config, backbone=dataclasses.replace(config.backbone, pretrained=pretrained_backbone))
    if weights_source is not None and ours:
        # Weights will overwrite the backbone anyway; don't fetch ImageNet files for nothing.
        config = dataclasses.replace(config, backbone=dataclasses.replace(config.backbone, pretrained=False))
    model = build_any(config)
    if weights_source is not None:
        if state is None:
            state, _, _ = read_checkpoint(fetch(str(weights_source), _sha256_for(name, weights_source)))
        with torch.no_grad():  # num_classes given: a checkpoint of other classes keeps all but its classifiers
            load_state_dict_strict(model, state, str(weights_source), other_classes=num_classes is not None)
        # The class names, colours and test-time resize stored with the weights stay with the model, so
        # saving, sharing or exporting it again keeps them (save_checkpoint, save_pretrained, export_onnx).
        from .load import stored_description

        described = stored_description(name, checkpoint)
        if described is not None and len(described.classes) == model.num_classes:
            model.data_description = described.to_json()
    return model.eval()


def official_checkpoint(checkpoint: Any) -> Any:
    """``checkpoint`` with the command line's word ``"official"`` read as ``True`` (a zoo entry's published
    weights): in Python it used to be taken for a file called official."""
    return True if isinstance(checkpoint, str) and checkpoint == "official" else checkpoint


def _resolve(
    name: str | os.PathLike | ModelConfig, checkpoint: str | os.PathLike | bool | None
) -> tuple[ModelConfig, str | os.PathLike | None, dict[str, torch.Tensor] | None]:
    """(config, where the weights come from, the weights when already read): a file is read once."""
    from ..models.external_config import SMPModelConfig, TorchvisionModelConfig

    if isinstance(name, dict):  # what a model YAML holds, as Python data
        from ..models.config_io import model_config_from_dict

        name = model_config_from_dict(name, "the model config dict")
    if isinstance(name, (ModelConfig, SMPModelConfig, TorchvisionModelConfig)):
        if checkpoint is True:
            raise InputError("the official checkpoint (checkpoint=True, --checkpoint official) exists only for zoo names")
        return name, checkpoint or None, None
    text = str(name)
    if text in MODEL_ZOO:
        entry = get_entry(text)
        if checkpoint is True:
            if entry.checkpoint_url is None:
                raise InputError(f"{text} has no published checkpoint; pass a path")
            return entry.config, entry.checkpoint_url, None
        return entry.config, checkpoint or None, None
    if text.endswith((".yaml", ".yml")):
        from ..models.config_io import load_model_config

        if checkpoint is True:
            raise InputError("the official checkpoint (checkpoint=True, --checkpoint official) exists only for zoo names, "
                             "not for a config file")
        return load_model_config(text), checkpoint or None, None
    if Path(text).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        raise InputError(f"{text} is an image or video, not a model: give a zoo name, a .safetensors file, a model YAML "
                         "or an .onnx file")
    if text.endswith(".safetensors") or Path(text).is_file():
        safetensors = text.endswith(".safetensors")
        state, state_config, _ = read_checkpoint(Path(text)) if safetensors else (None, None, None)
        # A training state is a torch.save file (a file of no weights is named there); a .safetensors
        # file read above is not one, and torch would call it "not a PyTorch checkpoint".
        if not safetensors and read_training_state(Path(text)) is not None:
            raise InputError(f"{text} is a training state of idrnet train (weights, optimiser, progress): give the run's "
                             f"best.safetensors or final.safetensors, or make one from it with `idrnet convert {text} "
                             "model.safetensors` (it keeps the model config)")
        if state_config is None:
            raise InputError(f"{text} holds weights but no model config (only idrnet's .safetensors files carry one): "
                             "name the model (a zoo name or model YAML) and give this file as its checkpoint "
                             "(--checkpoint on the command line)")
        if checkpoint not in (None, True):
            return state_config, checkpoint, None
        return state_config, text, state
    # A folder, a missing file or an unknown name was refused, named, by create_model's check_model_source.
    raise AssertionError(f"unreachable: {text!r} passed check_model_source")


def read_training_state(path: Path) -> dict[str, Any] | None:
    """The training state in ``path`` if it is one written by ``idrnet train`` (latest.pt, iter_N.pt: a
    dict holding the run's config as text beside the model's weights), None for other weights files. A file
    that is not a weights file at all raises, naming what it is."""
    from ..models.checkpoint import load_weights_only

    state = load_weights_only(path)  # a file that holds no weights (a web page, an image …) is named here
    if isinstance(state, dict) and isinstance(state.get("config"), str) and isinstance(state.get("model"), dict):
        return state
    return None


def _sha256_for(name: Any, source: Any) -> str | None:
    if isinstance(name, str) and name in MODEL_ZOO and str(source) == MODEL_ZOO[name].checkpoint_url:
        return MODEL_ZOO[name].checkpoint_sha256
    return None
