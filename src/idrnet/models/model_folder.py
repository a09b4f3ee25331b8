"""Model folders: ``save_pretrained`` / ``push_to_hub`` and the ``model.save_pretrained(dir)`` methods.

A model folder (local, or a Hugging Face Hub repository) holds ``model.safetensors`` — the same file
training writes: weights, the model's config (or the config line of an SMP/torchvision model) and the
data description — a ``README.md`` model card, and a ``config.json`` that makes ``smp.from_pretrained``
(which would otherwise fail on the state dict) stop with a line saying to load the model with idrnet.
:func:`resolve` finds a folder's weights again, local or on the Hub (``hf-hub:user/repo``), for every verb,
``init_checkpoint`` and ``idrnet.from_pretrained`` (:mod:`idrnet.apis.hub`).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError

WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
CONFIG_NAME = "config.json"
FOLDER_FILES = (WEIGHTS_NAME, CARD_NAME, CONFIG_NAME)
HUB_PREFIX = "hf-hub:"
# smp.from_pretrained reads config.json's "_model_class" and looks it up in its own module: this name
# is what its error message (AttributeError) then shows.
SMP_LOADER_MESSAGE = "saved by idrnet (IDRNet attached): load it with idrnet.from_pretrained(...), pip install idrnet"


def model_card(model: torch.nn.Module, description: Any = None, metrics: dict[str, Any] | None = None,
               training_config: dict[str, Any] | None = None, repo_id: str | None = None) -> str:
    """A Hub model card (markdown with YAML front matter): task, classes, data description, training
    config, metrics of the last test, the library versions it needs and how to load it."""
    import yaml

    from .. import __version__
    from .external_config import external_record

    record = external_record(model)
    where = f"hf-hub:{repo_id}" if repo_id else "path/to/this/folder"
    classes = list(description.classes) if description is not None else [f"class {i}" for i in range(model.num_classes)]
    needs = [f"idrnet {__version__}", f"torch {torch.__version__.split('+')[0]}"]
    if record is not None:
        needs.append(f"{record['library']} {record['version']}")
    front = {"library_name": "idrnet", "pipeline_tag": "image-segmentation", "tags": ["semantic-segmentation", "idrnet"]}
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# {repo_id.split('/')[-1] if repo_id else 'idrnet model'}", "",
             "Semantic segmentation" + (" with IDRNet (NeurIPS 2023) attached to a "
                                        f"{record['library']} model" if record else " (idrnet)") + ".", "",
             "## Load it", "", "```python", "import idrnet", "",
             f'model = idrnet.from_pretrained("{where.removeprefix("hf-hub:")}")   # eval mode; logits = model(images)',
             f'labels = idrnet.Predictor("{where}").predict("photo.jpg")', "```", "",
             f"Every `idrnet` verb takes `{where}` as its model (`idrnet predict`, `test`, `serve`, …).", "",
             f"## Classes ({len(classes)})", "", ", ".join(f"{i}: {n}" for i, n in enumerate(classes)), ""]
    if description is not None:
        rest = {k: v for k, v in json.loads(description.to_json()).items() if k not in ("classes", "palette")}
        lines += ["## Data description", "", "Besides the classes and their colours (stored in model.safetensors):",
                  "", "```json", json.dumps(rest), "```", ""]
    if metrics:
        shown = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
        lines += ["## Metrics (last `idrnet test`)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {100 * v:.2f} |" if isinstance(v, float) and k[0] in "am" else f"| {k} | {v} |"
                  for k, v in shown.items()]
        lines.append("")
    if training_config:
        lines += ["## Training config", "", "```yaml", yaml.safe_dump(training_config, sort_keys=False).strip(), "```", ""]
    lines += ["## Needs", "", ", ".join(needs) + f" (saved with Python {platform.python_version()})", ""]
    return "\n".join(lines)


def save_pretrained(model: torch.nn.Module, directory: str | os.PathLike, data_description: Any = None,
                    metrics: dict[str, Any] | None = None, training_config: dict[str, Any] | None = None,
                    repo_id: str | None = None, overwrite: bool = False) -> Path:
    """Write ``model`` as a model folder (``model.safetensors``, ``README.md``, ``config.json``), each file
    atomically. ``data_description``: class names and colours (a DataDescription or its JSON);
    ``metrics`` (e.g. ``idrnet test``'s JSON) and ``training_config`` go into the model card. A folder
    already holding a model is refused unless ``overwrite``."""
    from ..atomic import write_text
    from ..data.description import DataDescription
    from .checkpoint import description_json, save_checkpoint

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} is a file; save_pretrained writes a folder")
    if (directory / "dataset.yaml").is_file():  # its model.safetensors would make verbs read it as a model
        raise InputError(f"{directory} is a dataset folder (it holds dataset.yaml); save the model into a folder "
                         "of its own")
    foreign = [n for n in (CARD_NAME, CONFIG_NAME) if (directory / n).exists() and not _written_by_us(directory / n)]
    if foreign:  # a project's README.md, another library's config.json: never replaced, overwrite or not
        raise InputError(f"{directory} holds {' and '.join(foreign)} that idrnet did not write (a model folder's "
                         f"{' and '.join(foreign)} would replace {'them' if len(foreign) > 1 else 'it'}); "
                         "save into a new or empty folder")
    existing = [n for n in FOLDER_FILES if (directory / n).exists()]
    if existing and not overwrite:
        raise InputError(f"{directory} already holds a model ({', '.join(existing)}); pass overwrite=True to replace it")
    text = description_json(data_description, model)
    description = DataDescription.from_json(text, "data_description") if text else None
    if isinstance(model, HubMethods):
        model.prepare_to_save()
    save_checkpoint(model, directory / WEIGHTS_NAME, data_description=text)
    write_text(directory / CARD_NAME, model_card(model, description, metrics, training_config, repo_id))
    write_text(directory / CONFIG_NAME, json.dumps({"_model_class": SMP_LOADER_MESSAGE, "library": "idrnet",
                                                    "num_classes": model.num_classes}, indent=1) + "\n")
    return directory


def _written_by_us(path: Path) -> bool:
    """Whether a model card or config.json is one save_pretrained wrote (so ``overwrite`` may replace it)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read(65536)  # ours are a few KiB; a large file is someone else's
    except OSError:
        return False
    if path.name == CARD_NAME:
        front = text.split("---", 2)[1] if text.startswith("---") and text.count("---") >= 2 else ""
        return "library_name: idrnet" in front.splitlines()
    try:
        return json.loads(text).get("library") == "idrnet"
    except (ValueError, AttributeError):
        return False


def push_to_hub(model: torch.nn.Module, repo_id: str, data_description: Any = None,
                metrics: dict[str, Any] | None = None, training_config: dict[str, Any] | None = None,
                private: bool = False, commit_message: str = "Upload model with idrnet", token: str | None = None,
                api: Any = None, overwrite: bool = False) -> str:
    """Write the model folder of :func:`save_pretrained` and upload it to ``repo_id`` (created if
    missing); returns the commit URL. ``api``: an ``huggingface_hub.HfApi`` (made from ``token`` when not
    given). A repository whose README.md or config.json idrnet did not write (another library's model) is
    refused unless ``overwrite`` (the Hub keeps the replaced files in the repository's history)."""
    from ..optional import require

    if api is None:
        require("huggingface_hub", "uploading to the Hugging Face Hub")
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    foreign = [] if overwrite else _foreign_on_hub(api, repo_id)
    if foreign:
        raise InputError(f"hf-hub:{repo_id} holds {' and '.join(foreign)} that idrnet did not write (another "
                         f"library's model?), which the push would replace: push to a new repository, or pass "
                         "overwrite=True (the Hub keeps the replaced files in the repository's history)")
    with tempfile.TemporaryDirectory(prefix="idrnet_hub_") as tmp:
        folder = save_pretrained(model, Path(tmp) / "model", data_description, metrics, training_config, repo_id)
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=commit_message)
    return str(getattr(commit, "commit_url", commit))


def _foreign_on_hub(api: Any, repo_id: str) -> list[str]:
    """The README.md and config.json of an existing Hub repository that idrnet did not write."""
    if not api.repo_exists(repo_id):
        return []
    present = set(api.list_repo_files(repo_id))
    return [name for name in (CARD_NAME, CONFIG_NAME)
            if name in present and not _written_by_us(Path(api.hf_hub_download(repo_id, name)))]


class HubMethods:
    """``model.save_pretrained(dir)`` and ``model.push_to_hub(repo_id)`` on idrnet's models and on models
    IDRNet was attached to (see :func:`save_pretrained`, :func:`push_to_hub`)."""

    def prepare_to_save(self) -> None:
        """Give the model what :func:`~idrnet.models.checkpoint.save_checkpoint` needs to rebuild it
        (ours carry their config already; a model IDRNet was attached to by hand gets its config line)."""

    def save_pretrained(self, directory: str | os.PathLike, data_description: Any = None, **options: Any) -> Path:
        """Write this model as a model folder (:func:`save_pretrained`)."""
        return save_pretrained(self, directory, data_description, **options)  # type: ignore[arg-type]

    def push_to_hub(self, repo_id: str, data_description: Any = None, **options: Any) -> str:
        """Upload this model's folder to ``repo_id`` (:func:`push_to_hub`)."""
        return push_to_hub(self, repo_id, data_description, **options)  # type: ignore[arg-type]


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
            from ..file_errors import run_folder_hint

            raise FileNotFoundError(f"{local} holds no {WEIGHTS_NAME}: not a folder written by save_pretrained"
                                    + run_folder_hint(local, "weights"))
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
