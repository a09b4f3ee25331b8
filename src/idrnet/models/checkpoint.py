"""Loading and saving weights: official SSSegmentation ``.pth`` files and our safetensors format."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import InputError
from ..atomic import atomic_path
from ..config import from_dict, parse_json, to_dict
from .config import ModelConfig, record_for_storage, record_from_storage, upgrade_stored_config
from .segmentor import Segmentor

CONFIG_METADATA_KEY = "idrnet_config"
NAME_METADATA_KEY = "idrnet_name"
DATA_METADATA_KEY = "idrnet_data"  # JSON of idrnet.data.description.DataDescription
EXTERNAL_METADATA_KEY = "idrnet_external"  # another library's model: {"library", "version", "config"}

# Reference ResNet deep stem → timm's deep stem (conv1 Sequential + bn1).
_STEM = {"stem.0.": "conv1.0.", "stem.1.": "conv1.1.", "stem.3.": "conv1.3.", "stem.4.": "conv1.4.",
         "stem.6.": "conv1.6.", "stem.7.": "bn1."}


class CheckpointError(InputError):
    """A checkpoint does not fit the model; the message lists the offending tensors."""


def refused_pickle_message(path: str | os.PathLike) -> str:
    """What to say about a PyTorch file that holds more than tensors (torch's own message advises
    ``weights_only=False``, which would run whatever code the file carries)."""
    return (f"{path}: refused: the file holds Python objects besides tensors, which could run code when loaded, "
            "and idrnet loads only weights. If the file is yours, save its state dict alone "
            "(torch.save(model.state_dict(), PATH)) or convert it to .safetensors")


# How files that are often mistaken for weights begin.
_OTHER_FILES = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
                b"version https://git-lfs": "a Git LFS pointer (run `git lfs pull` to fetch the file itself)",
                b"\x1f\x8b": "a gzip archive (unpack it first)"}


def _head(path: str | os.PathLike) -> bytes | None:
    """The first 64 bytes of ``path``, None when it cannot be read (the loader then says why)."""
    try:
        with open(path, "rb") as f:
            return f.read(64)
    except OSError:
        return None


def _foreign_file(head: bytes) -> str | None:
    """What a file beginning with ``head`` is, when that shows it is not a weights file at all (an image,
    a web page, an empty file, a Git LFS pointer); None when it may be one."""
    if not head:
        return "the file is empty (0 bytes): an interrupted download or copy?"
    for magic, what in _OTHER_FILES.items():
        if head.startswith(magic):
            return f"it is {what}"
    if head.lstrip().startswith(b"<"):
        return "it is an HTML or XML page (a download that returned a web page instead of the file?)"
    return None


_TEXT_FILE = "it is a text file (a config or a note?)"


def _is_text(head: bytes) -> bool:
    """No control bytes but tabs and line ends: text (weights files of every format hold some early on)."""
    return all(32 <= b < 127 or b in (9, 10, 13) or b >= 128 for b in head)


def _not_a_torch_file(head: bytes) -> str | None:
    """Why a file beginning with ``head`` cannot be a ``torch.save`` file, or None if it may be one: torch's
    own error for these calls them code-carrying pickles ("Weights only load failed"). torch.save writes a
    zip archive (before PyTorch 1.6 a pickle, which starts with the protocol byte 0x80)."""
    foreign = _foreign_file(head)
    if foreign or head.startswith((b"PK", b"\x80")):
        return foreign
    if _is_text(head):
        return f"{_TEXT_FILE}, neither a zip archive nor a pickle, as torch.save writes"
    return "it is neither a zip archive nor a pickle, as torch.save writes"


def _torch_file_problem(path: str | os.PathLike) -> str | None:
    """:func:`_not_a_torch_file` of ``path``'s first bytes; None when they cannot be read (the loader says why)."""
    head = _head(path)
    return None if head is None else _not_a_torch_file(head)


def not_a_checkpoint(path: str | os.PathLike) -> str | None:
    """Why the local file ``path`` cannot be a weights file at all (empty, a web page, an image, text …),
    from its first bytes; None when it may be one. ``.safetensors`` files are left to safetensors."""
    return None if str(path).endswith(".safetensors") else _torch_file_problem(path)


def _unreadable_safetensors(path: str | os.PathLike, err: Exception) -> CheckpointError:
    """The error for a ``.safetensors`` file safetensors cannot open, saying what the file is if it shows."""
    head = _head(path)
    foreign = None if head is None else _foreign_file(head)
    if head is not None and foreign is None and _not_a_torch_file(head) is None:
        foreign = "it is a PyTorch checkpoint (torch.save) named .safetensors: rename it to .pth"
    elif head and foreign is None and _is_text(head):
        foreign = _TEXT_FILE
    reason = foreign or f"{err}; truncated or not written by idrnet?"
    return CheckpointError(f"{path}: not a readable .safetensors file: {reason}")


def load_weights_only(path: str | os.PathLike, what: str = "a weights-only PyTorch checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, its failures as :class:`CheckpointError` naming
    the file: a file with code-carrying objects is refused with :func:`refused_pickle_message`."""
    import pickle
    import warnings

    not_torch = _torch_file_problem(path)
    if not_torch:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint: {not_torch}")
    try:
        with warnings.catch_warnings():  # torch's advice on pickle protocols, printed before our refusal
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(refused_pickle_message(path)) from err
    except Exception as err:  # noqa: BLE001 - truncated, corrupt or foreign: name the file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "central directory" in first:  # torch's zip reader on a file cut short
            first = "the file is truncated or damaged (an interrupted download or copy?)"
        raise CheckpointError(f"cannot read {path} as {what}: {first}") from err


def resnet_key_to_timm(key: str) -> str:
    """Reference/open-mmlab ResNet-V1c parameter name → timm's name."""
    for old, new in _STEM.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


_SWIN_RULES = [
    (r"^patch_embed\.projection\.", "body.patch_embed.proj."),
    (r"^patch_embed\.norm\.", "body.patch_embed.norm."),
    (r"^stages\.(\d+)\.downsample\.", lambda m: f"body.layers_{int(m.group(1)) + 1}.downsample."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.attn\.w_msa\.", r"body.layers_\1.blocks.\2.attn."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.0\.0\.", r"body.layers_\1.blocks.\2.mlp.fc1."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.1\.", r"body.layers_\1.blocks.\2.mlp.fc2."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.", r"body.layers_\1.blocks.\2."),
    (r"^norm(\d)\.", r"norms.\1."),
]


def swin_key_to_ours(key: str) -> str:
    """Reference (mmseg-style) Swin parameter name → our :class:`SwinBackbone` name."""
    for pattern, replacement in _SWIN_RULES:
        new, n = re.subn(pattern, replacement, key)
        if n:
            return new
    return key


def _unfold_to_timm_merge(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Patch-merging channels: nn.Unfold order (c·4 + kh·2 + kw) → timm's (kw·2C + kh·C + c)."""
    c = t.shape[dim] // 4
    shape = list(t.shape)
    t = t.reshape(shape[:dim] + [c, 2, 2] + shape[dim + 1:])  # (…, c, kh, kw, …)
    t = t.movedim(dim, dim + 2).movedim(dim, dim + 1)  # (…, kw, kh, c, …)
    return t.reshape(shape)


def convert_official_state_dict(raw: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A whole SSSegmentation state dict → ours, including Swin's patch-merging channel order.

    Swin's ``relative_position_index`` buffers are dropped: they are constants rebuilt by the model.
    """
    out = {}
    for key, value in raw.items():
        if key.startswith("backbone_net.") and key.endswith("relative_position_index"):
            continue
        new = convert_official_key(key)
        if ".downsample.reduction.weight" in new and ".layers_" in new:
            value = _unfold_to_timm_merge(value, 1)
        elif ".downsample.norm." in new and ".layers_" in new:
            value = _unfold_to_timm_merge(value, 0)
        out[new] = value
    return out


def convert_official_key(key: str) -> str:
    """An SSSegmentation segmentor key → ours (``backbone_net.`` → ``backbone.body.``, heads under
    ``decode_head.``/``auxiliary_head.``, both coarse-context refiners → ``coarse_context_refiner``)."""
    if key.startswith("backbone_net."):
        inner = key[len("backbone_net."):]
        if inner.startswith(("patch_embed.", "stages.")) or re.match(r"^norm\d\.", inner):
            return "backbone." + swin_key_to_ours(inner)
        return "backbone.body." + resnet_key_to_timm(inner)
    if key.startswith("auxiliary_decoder."):
        return "auxiliary_head." + key[len("auxiliary_decoder."):]
    key = re.sub(r"^coarsecontext_refiner_(before|after)\.", "coarse_context_refiner.", key)
    return "decode_head." + key


def _fit_auxiliary_keys(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    """Official checkpoints of heads that own their auxiliary branch (OCRNet's object regions) keep it as
    the segmentor's auxiliary decoder: move those tensors into the head."""
    prefix = getattr(getattr(model, "decode_head", None), "official_auxiliary_prefix", None)
    if not prefix or getattr(model, "auxiliary_head", None) is not None:
        return state
    return {f"decode_head.{prefix}{k[len('auxiliary_head.'):]}" if k.startswith("auxiliary_head.") else k: v
            for k, v in state.items()}


def load_state_dict_strict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str,
                           other_classes: bool = False) -> list[str]:
    """Load ``state`` into ``model``; any missing, unexpected or mis-shaped tensor is an error listing them.

    With ``other_classes`` (fine-tuning on a dataset with another number of classes), the tensors that
    differ only in the number of classes — classifiers, IDRNet's class relations and class vectors — keep
    the model's own initialisation; their names are returned."""
    state = _fit_auxiliary_keys(model, state)
    expected = model.state_dict()
    fresh = _class_specific(state, expected, getattr(model, "num_classes", None)) if other_classes else []
    if fresh:
        state = {**state, **{k: expected[k] for k in fresh}}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong:
        # One line: counts, then the first few names of each kind (the whole list with --debug is the same).
        parts = [f"{len(items)} {title} ({'; '.join(items[:3])}{'; …' if len(items) > 3 else ''})"
                 for title, items in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", wrong))
                 if items]
        raise CheckpointError(f"checkpoint {source} does not fit the model: {', '.join(parts)}; is it from another "
                              "model config or number of classes?")
    model.load_state_dict(dict(state), strict=True)
    return fresh


def _class_specific(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
                    num_classes: int | None) -> list[str]:
    """The tensors of ``state`` whose shapes differ from the model's only where the model has
    ``num_classes``, and there always by one other number (the checkpoint's classes); [] if there is none,
    or if the differences are not all of that kind (another architecture: an error, as before)."""
    if not num_classes:
        return []
    found, theirs = [], set()
    for key in sorted(set(state) & set(expected)):
        have, want = tuple(state[key].shape), tuple(expected[key].shape)
        if have == want:
            continue
        if len(have) != len(want):
            return []
        differ = [(h, w) for h, w in zip(have, want) if h != w]
        if any(w != num_classes for _, w in differ):
            return []
        theirs.update(h for h, _ in differ)
        found.append(key)
    return found if len(theirs) == 1 else []


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of one of our ``.safetensors`` files (empty for other files)."""
    if Path(path).suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - SafetensorError and friends: name the file
        raise _unreadable_safetensors(path, err) from err


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], Any, str | None]:
    """Tensors (in our key names), the stored config (a :class:`ModelConfig`, or another library's
    config line) and model name (ours only) of a checkpoint file.

    ``.safetensors`` files are ours; anything else is read with ``torch.load(weights_only=True)`` and
    may be an official SSSegmentation checkpoint (``{'model': state_dict, ...}``) or a bare state dict.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        raise CheckpointError(f"{path} is an exported ONNX graph, not a weights file: use it as the model "
                              "(idrnet predict --model, idrnet test --checkpoint), or pass the .safetensors it came from")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        if not path.is_file():
            from ..file_errors import not_a_file

            raise not_a_file(path, "checkpoint", "weights")
        metadata = read_metadata(path)
        config: Any = None
        description = metadata.get(DATA_METADATA_KEY)
        if CONFIG_METADATA_KEY in metadata:
            stored = upgrade_stored_config(parse_json(metadata[CONFIG_METADATA_KEY], f"{path}:{CONFIG_METADATA_KEY}"))
            stored = record_from_storage(stored, description, f"{path}:{DATA_METADATA_KEY}")
            config = from_dict(ModelConfig, stored, where=f"{path}:config")
        elif EXTERNAL_METADATA_KEY in metadata:
            from .external_config import external_from_record

            record = parse_json(metadata[EXTERNAL_METADATA_KEY], f"{path}:{EXTERNAL_METADATA_KEY}")
            if isinstance(record, dict) and isinstance(record.get("config"), dict):
                record["config"] = record_from_storage(record["config"], description, f"{path}:{DATA_METADATA_KEY}")
            config = external_from_record(record, f"{path}:{EXTERNAL_METADATA_KEY}")
        try:
            tensors = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - name the file
            raise _unreadable_safetensors(path, err) from err
        return tensors, config, metadata.get(NAME_METADATA_KEY)
    raw = load_weights_only(path)
    if isinstance(raw, dict) and "model" in raw and isinstance(raw["model"], dict):
        raw = raw["model"]
    elif isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"{path} holds no state dict (expected {{'model': state_dict}} or a state dict)")
    raw = {k[len("module."):] if k.startswith("module.") else k: v for k, v in raw.items()}
    official = any(k.startswith("backbone_net.") for k in raw)
    state = convert_official_state_dict(raw) if official else dict(raw)
    return state, None, None


def deprecated_keyword(value: Any, old: str = "data_meta", new: str = "data_description") -> Any:
    """``value`` of a keyword renamed in idrnet 0.2, with a DeprecationWarning when it is given."""
    if value is not None:
        import warnings

        warnings.warn(f"the keyword {old} is now {new}", DeprecationWarning, stacklevel=3)
    return value


def description_json(description: Any, model: torch.nn.Module | None = None) -> str | None:
    """A data description as the JSON text files store (a DataDescription, its JSON, or None). When none
    is given, ``model``'s own: the description of the file :func:`idrnet.create_model` loaded it from
    (``model.data_description``), if it still names as many classes as the model has, so a model loaded
    and saved again keeps its class names, colours and test-time resize."""
    if description is None and model is not None:
        description = remembered_description(model)
    if description is None or isinstance(description, str):
        return description or None
    return description.to_json()


def remembered_description(model: torch.nn.Module) -> str | None:
    """The data description JSON ``model`` was loaded with (``model.data_description``), or None when it has
    none or one of another number of classes (its classifier was replaced since)."""
    text = getattr(model, "data_description", None)
    if not isinstance(text, str) or not text:
        return None
    try:
        classes = json.loads(text).get("classes")
    except (ValueError, AttributeError):
        return None
    return text if isinstance(classes, list) and len(classes) == getattr(model, "num_classes", None) else None


def save_checkpoint(model: torch.nn.Module, path: str | os.PathLike, name: str | None = None,
                    data_description: Any = None, *, data_meta: str | None = None) -> Path:
    """Write ``model``'s weights and config as one safetensors file, atomically. ``data_description``: a
    :class:`idrnet.data.description.DataDescription` or its JSON, so predictions know class names and
    colours; its ignore label is stored there only. ``data_meta``: deprecated name of ``data_description``."""
    from safetensors.torch import save_file

    data_description = description_json(data_description if data_description is not None else deprecated_keyword(data_meta),
                                        model)

    path = Path(path)
    # Another suffix would hide the format: x.pth holding safetensors is read back as a broken PyTorch file.
    if path.suffix != ".safetensors":
        raise InputError(f"{path}: save_checkpoint writes a .safetensors file; name it {path.with_suffix('.safetensors').name}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; save_checkpoint writes a .safetensors file (save_pretrained "
                                "writes a model folder)")
    path.parent.mkdir(parents=True, exist_ok=True)
    from .external_config import external_record

    record = external_record(model)
    if record is not None:  # another library's model: how to rebuild it (library, version, arguments)
        record["config"] = record_for_storage(record["config"], data_description, str(path))
        metadata = {EXTERNAL_METADATA_KEY: json.dumps(record)}
    elif isinstance(model, Segmentor):
        metadata = {CONFIG_METADATA_KEY: json.dumps(record_for_storage(to_dict(model.config), data_description, str(path)))}
    else:
        raise InputError(f"cannot save a {type(model).__name__} with its config: only idrnet's models and "
                         "config-line models (model: {type: smp|torchvision, …}) carry one; save its state_dict instead")
    if name:
        metadata[NAME_METADATA_KEY] = name
    if data_description:
        metadata[DATA_METADATA_KEY] = data_description
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    return path
