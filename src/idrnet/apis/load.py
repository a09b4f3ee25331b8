"""The one place that decides what a model argument is — a zoo name, a ``.safetensors`` file, an ``.onnx``
graph, a model YAML or config line (with a checkpoint), or a built module — and loads it with the data
description that comes with it. ``Predictor``, ``idrnet test``, ``compare`` and ``export`` go through it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.description import DataDescription
from ..errors import InputError
from ..models.protocol import SegmentationModel
from ..models.zoo import MODEL_ZOO


@dataclass
class LoadedModel:
    """A model in eval mode and the data description stored with it (None when it has none)."""

    model: SegmentationModel
    description: DataDescription | None


def is_graph_file(source: Any) -> bool:
    """Whether ``source`` names an exported graph (``.onnx``), which runs as it is."""
    return isinstance(source, (str, os.PathLike)) and str(source).endswith(".onnx")


MODEL_FILE_SUFFIXES = (".safetensors", ".onnx", ".yaml", ".yml", ".pth", ".pt")


def check_model_source(source: Any, what: str = "model") -> None:
    """Refuse, before anything is built or read, a model argument that is none of the things a model can
    be: a zoo name (unknown names get suggestions), an existing file, a built module or a config object."""
    from ..file_errors import run_weights
    from ..models.model_folder import is_folder_or_hub
    from ..models.zoo import get_entry

    if source is None or (isinstance(source, str) and not source.strip()):  # Path("") is the current folder
        raise InputError(f"{what}: expected a zoo name, a .safetensors, .onnx or model YAML file, or hf-hub:USER/REPO; "
                         f"got {source!r}")
    if not isinstance(source, (str, os.PathLike)) or str(source) in MODEL_ZOO or Path(source).is_file() \
            or is_folder_or_hub(source):  # a model folder: save_pretrained's, or a Hub download
        return
    if Path(source).is_dir():
        trained = run_weights(source)
        if trained:  # a training run's work dir
            raise InputError(f"{source} is a training run's folder: its model is {' or '.join(map(str, trained))}")
        raise InputError(f"{source} is a folder, not a {what}: give a zoo name, a .safetensors file, a model YAML "
                         "or an .onnx file")
    text = str(source)
    for slip in ("hf_hub:", "hf:", "hub:", "huggingface:", "hf-hub/"):
        if text.lower().startswith(slip):
            raise InputError(f"{what} {source}: a Hugging Face Hub model is named hf-hub:{text[len(slip):]}")
    if str(source).endswith(MODEL_FILE_SUFFIXES) or os.sep in str(source):
        beside = [f"{source}{s}" for s in (".safetensors", ".onnx") if Path(f"{source}{s}").is_file()]
        hint = f" (did you mean {beside[0]}?)" if beside else ""
        raise FileNotFoundError(f"{what} {source}: no such file{hint}")
    get_entry(str(source))  # an unknown name, with the closest zoo names


def source_name(source: Any) -> str:
    """A short name for a model argument in reports: a file's stem, a zoo name as it is."""
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix in MODEL_FILE_SUFFIXES:
        return Path(source).stem
    return str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__


def zoo_description(zoo_name: str) -> DataDescription:
    """The data description of a zoo model (benchmark classes, official test resize)."""
    from ..data.datasets.benchmarks import BENCHMARKS
    from ..data.official import RECIPES, ZOO_DATASETS, zoo_recipe_name
    from ..models.zoo import get_entry

    dataset = get_entry(zoo_name).dataset
    info = BENCHMARKS[ZOO_DATASETS[dataset][0]].info
    recipe = RECIPES[zoo_recipe_name(zoo_name, dataset)]
    return info.with_test_resize(recipe.test_scale or recipe.scale, recipe.keep_ratio)


def stored_description(model: Any, checkpoint: Any = None) -> DataDescription | None:
    """The data description that comes with a model: stored in its ``.safetensors`` file (the checkpoint's,
    else the model's), or the zoo dataset's for a zoo name, or for a built module the one it was loaded
    with (``model.data_description``); None when there is none."""
    from ..models.model_folder import is_folder_or_hub, resolve
    from ..models.checkpoint import DATA_METADATA_KEY, read_metadata, remembered_description

    if isinstance(model, torch.nn.Module) and checkpoint is None:  # built by create_model from a described file
        remembered = remembered_description(model)
        return DataDescription.from_json(remembered, "model.data_description") if remembered else None
    model = str(resolve(model)) if is_folder_or_hub(model) else model
    source = str(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else str(model) if isinstance(model, (str, os.PathLike)) else ""
    stored = read_metadata(source) if source.endswith(".safetensors") and Path(source).is_file() else {}
    if DATA_METADATA_KEY in stored:
        return DataDescription.from_json(stored[DATA_METADATA_KEY], f"{source}:{DATA_METADATA_KEY}")
    if isinstance(model, str) and model in MODEL_ZOO:
        return zoo_description(model)
    return None


def load(source: Any, checkpoint: str | os.PathLike | bool | None = None,
         device: str | torch.device = "cpu") -> LoadedModel:
    """``source`` ready to run on ``device``: an ``.onnx`` file with ONNX Runtime (its stored description),
    a built module as it is, anything else through :func:`idrnet.create_model` with ``checkpoint`` (as
    there: a path, URL or ``True`` for a zoo entry's published weights)."""
    from ..models.model_folder import is_folder_or_hub, resolve
    from .create import create_model, official_checkpoint

    if is_folder_or_hub(source):  # a model folder; from the Hub downloaded once into the Hugging Face cache
        source = str(resolve(source))
    checkpoint = official_checkpoint(checkpoint)
    if is_graph_file(source):
        from ..deploy.onnx_model import OnnxSegmentor

        graph = OnnxSegmentor(source, torch.device(device))
        stored = graph.data_description
        return LoadedModel(graph, DataDescription.from_json(stored, f"{source}:data description") if stored else None)
    if isinstance(source, torch.nn.Module) and not hasattr(source, "num_classes"):
        # a network of another library (torchvision's FCN, an SMP Unet) given as it is: every verb reads its
        # classes, logits and inference settings, which idrnet's models carry
        raise InputError(f"the {type(source).__name__} given is not one of idrnet's models: attach IDRNet to it "
                         f"(idrnet.attach(model, num_classes)), or build it from a config line "
                         "(model: {type: smp|torchvision, …, idrnet: false} for the network alone)")
    model = source if isinstance(source, torch.nn.Module) else create_model(source, checkpoint=checkpoint)
    return LoadedModel(model.eval().to(device), stored_description(source, checkpoint))


def load_trained(source: Any, device: str | torch.device = "cpu") -> LoadedModel:
    """A model argument of the verbs that evaluate trained models (compare, robustness): a zoo name with
    its published weights, or a file (``.safetensors``, ``.onnx``, a model YAML) checked first."""
    check_model_source(source)
    return load(source, checkpoint=True if isinstance(source, str) and source in MODEL_ZOO else None, device=device)


def distinct_names(a: str, b: str) -> tuple[str, str]:
    """Short labels that tell two model arguments apart: their stems, or as many trailing folders as
    needed (``runs/fcn/final.safetensors`` and ``runs/idr/final.safetensors`` → ``fcn/final``, ``idr/final``)."""
    pa, pb = Path(a).with_suffix(""), Path(b).with_suffix("")
    for depth in range(1, max(len(pa.parts), len(pb.parts)) + 1):
        na, nb = "/".join(pa.parts[-depth:]), "/".join(pb.parts[-depth:])
        if na != nb:
            return na, nb
    return f"{pa.name} #1", f"{pb.name} #2"  # the same file twice (the report's lines say A and B already)


def check_weights_given(source: Any, checkpoint: Any, flag: str = "--checkpoint") -> None:
    """Inference needs trained weights: a zoo name alone would be a randomly initialised model."""
    if isinstance(source, str) and source in MODEL_ZOO and checkpoint in (None, False):
        raise InputError(f"{source} is a zoo name: pass {flag} PATH or {flag} official")


def class_names_note(meta, dataset, who: str = "the model") -> str | None:
    """A note when a model's stored class names differ from the dataset's (same count, so they would be
    paired by index): a model trained on other data, or classes reordered since. None when they agree or
    the model stores no names of its own."""
    if meta is None or len(meta.classes) != len(dataset.info.classes):
        return None
    if all(name == f"class_{i}" for i, name in enumerate(meta.classes)):
        return None  # no names were known (generic_description)
    differ = [i for i, (a, b) in enumerate(zip(meta.classes, dataset.info.classes)) if a != b]
    if not differ:
        return None
    i = differ[0]
    return (f"{who}'s class names differ from the dataset's at {len(differ)} of {len(meta.classes)} classes "
            f"(class {i}: {meta.classes[i]!r} vs {dataset.info.classes[i]!r}); the scores pair classes by index, "
            "so they mean something only if the classes are the same ones")


def description_from_data(data: str | os.PathLike) -> DataDescription:
    """The class names and colours ``--data`` / ``Predictor(data=...)`` gives: a custom dataset folder (or
    its dataset.yaml), or a training config, whose data section names a custom dataset or a benchmark."""
    from ..data.description import custom_description

    path = Path(data)
    if path.is_file() and path.name != "dataset.yaml":
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise InputError(f"{path} is a file; expected a dataset folder (with its dataset.yaml) or a training config")
        from ..engine.config import load_train_config

        config = load_train_config(path).data
        if config.type != "custom":
            from ..data.datasets.benchmarks import get_benchmark

            return get_benchmark(config.type).info
        path = Path(config.root)
    return custom_description(path)


def same_weights_note(model_a, model_b) -> str | None:
    """A note when the two models of a paired comparison hold the same weights (one file given twice, or a
    copy of it): every difference is then zero by construction. None for different models. Exported
    graphs count as the same when their files hold the same bytes and run the same way."""
    import torch.nn as nn

    if not isinstance(model_a, nn.Module) or not isinstance(model_b, nn.Module):
        return _same_graph_note(model_a, model_b)
    a, b = model_a.state_dict(), model_b.state_dict()
    if model_a is not model_b:
        if a.keys() != b.keys():
            return None
        for key, x in a.items():
            y = b[key]
            if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
                return None  # an extra state of some module: not compared, so not claimed equal
            try:
                if x.shape != y.shape or x.dtype != y.dtype or not torch.equal(x, y):
                    return None
            except RuntimeError:  # tensors torch.equal does not take (quantised ones of other schemes)
                return None
    return "models A and B have the same weights, so every difference is zero: was B meant to be another file?"


def _same_graph_note(model_a, model_b) -> str | None:
    """The same-weights note for two exported graphs (ONNX files) read by the same runtime at the same
    precision from identical files; the same file at two precisions is a real comparison."""
    import filecmp

    from ..deploy.graph_model import GraphSegmentor

    if not (isinstance(model_a, GraphSegmentor) and type(model_a) is type(model_b)):
        return None
    if getattr(model_a, "precision", None) != getattr(model_b, "precision", None):
        return None
    a, b = Path(model_a.source), Path(model_b.source)
    try:
        same = a.suffix.lower() == ".onnx" and a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return None
    return "models A and B are the same exported file, so every difference is zero: was B meant to be another file?" if same else None


def check_ignore_label(meta, dataset) -> None:
    """A model trained on this dataset (its stored data description ``meta`` has the same class names)
    must use the dataset's ignore label."""
    if meta is None:
        return
    if tuple(meta.classes) == tuple(dataset.info.classes) and meta.ignore_index != dataset.info.ignore_index:
        raise InputError(f"the checkpoint was trained with ignore label {meta.ignore_index} but the dataset's "
                         f"ignore label is {dataset.info.ignore_index}; fix the dataset's ignore_index")
