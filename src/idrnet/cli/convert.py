"""Convert a checkpoint, such as an official SSSegmentation .pth, to idrnet's safetensors format.

  idrnet convert SRC DST.safetensors [--config ZOO_NAME_OR_YAML]

The output holds the weights and the resolved model config, so `idrnet.create_model(DST)` and
every verb accept it. The model is --config, else SRC's file stem when it is a zoo name (official
files are named after their configs: idrnet_upernet_resnet50os8_ade20k.pth), else the config stored
in a training state of `idrnet train` (latest.pt, iter_N.pt).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet convert``."""
    parser.add_argument("src", help="checkpoint file or URL (official .pth or ours)")
    parser.add_argument("dst", help="output .safetensors file")
    parser.add_argument(
        "--config", dest="name", help="zoo name or YAML model config of the model (default: SRC's file stem)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace DST if it exists")


def _training_state_model(src: str):
    """The model config inside a training state written by ``idrnet train`` (None for other files)."""
    from ..apis.create import read_training_state
    from ..config import from_dict, parse_json
    from ..engine.config import TrainConfig
    from ..models.zoo import get_entry

    if Path(src).suffix == ".safetensors":  # training states are torch.save files
        return None
    # A file that cannot be read is named as such here (truncated, damaged): "cannot tell which model" it
    # holds would send people to --config, only to be told then.
    state = read_training_state(Path(src))
    if state is None:
        return None
    model = from_dict(TrainConfig, parse_json(state["config"], f"{src}:config"), where=f"{src}:config").model
    return get_entry(model).config if isinstance(model, str) else model


def _is_idrnet_model_file(src: str) -> bool:
    """Whether ``src`` is a ``.safetensors`` file written by idrnet (training, convert,
    ``save_checkpoint``): it carries its model config."""
    from ..models.checkpoint import CONFIG_METADATA_KEY, EXTERNAL_METADATA_KEY, read_metadata

    if not Path(src).is_file():
        return False
    metadata = read_metadata(src)
    return CONFIG_METADATA_KEY in metadata or EXTERNAL_METADATA_KEY in metadata


def run(args: argparse.Namespace) -> int:
    """Load SRC into the named model (every tensor must fit) and save it as DST."""
    from ..apis.create import create_model
    from ..models.checkpoint import save_checkpoint
    from ..models.model_folder import is_model_folder
    from ..models.zoo import MODEL_ZOO, closest_models, get_entry

    if is_model_folder(args.src):
        raise InputError(f"{args.src} is already an idrnet model folder (its model.safetensors holds the config and "
                         "weights): every verb and idrnet.create_model take it as it is; there is nothing to convert")
    if "://" not in args.src and not Path(args.src).is_file():
        from ..file_errors import not_a_file

        raise not_a_file(args.src, run_part="weights")
    from .common import check_output_file, check_writable, model_bytes
    from ..models.checkpoint import CheckpointError, not_a_checkpoint

    # What the file is comes before which model it holds: "cannot tell which model" an empty file or a web
    # page holds sent people to --config, only to be told then that the file is no checkpoint at all.
    foreign = not_a_checkpoint(args.src) if Path(args.src).is_file() else None
    if foreign:
        raise CheckpointError(f"{args.src} is not a checkpoint: {foreign}")

    dst = check_output_file(args.dst, args.src, ".safetensors", args.overwrite)
    stem = Path(args.src.split("?")[0]).stem
    name = args.name
    stored = None
    if name is None:
        if stem in MODEL_ZOO:
            name = stem
        else:
            stored = _training_state_model(args.src) if Path(args.src).is_file() else None
            if stored is None and _is_idrnet_model_file(args.src):
                raise InputError(f"{args.src} is already an idrnet model file (its model config and weights are inside): "
                                 "every verb and idrnet.create_model take it as it is; there is nothing to convert")
            if stored is None:
                close = closest_models(stem, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise InputError(f"cannot tell which model {args.src} holds: unknown model {stem!r}{hint}, and the file "
                                 "is not a training state of idrnet train; pass --config ZOO_NAME or a model YAML "
                                 "(`idrnet models` lists the zoo)")
    elif not name.endswith((".yaml", ".yml")):
        get_entry(name)  # a clear error naming the model if unknown
    model = create_model(stored if stored is not None else name, checkpoint=args.src)
    label = None if name is None or name.endswith((".yaml", ".yml")) else name
    check_writable(dst, "output", need_bytes=model_bytes(model))
    save_checkpoint(model, dst, name=label)
    print(f"wrote {dst} ({name or 'model config of the training state'}, {len(model.state_dict())} tensors)")
    return 0
