"""Convert a checkpoint (e.g. an official SSSegmentation .pth) to idrnet's safetensors format.

The output holds the weights and the resolved model config, so `idrnet.create_model(DST)` and
every verb accept it. NAME defaults to SRC's file stem, since official files are named after their
configs (idrnet_upernet_resnet50os8_ade20k.pth).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet convert``."""
    parser.add_argument("src", help="checkpoint file or URL (official .pth or ours)")
    parser.add_argument("dst", help="output .safetensors file")
    parser.add_argument(
        "--config", dest="name", help="zoo name or YAML model config of the model (default: SRC's file stem)"
    )


def run(args: argparse.Namespace) -> int:
    """Load SRC into the named model (every tensor must fit) and save it as DST."""
    from ..apis.create import create_model
    from ..models.checkpoint import save_checkpoint
    from ..models.zoo import get_entry

    name = args.name or Path(args.src.split("?")[0]).stem
    if not name.endswith((".yaml", ".yml")):
        get_entry(name)  # a clear error naming the model if unknown
    dst = Path(args.dst)
    if dst.suffix != ".safetensors":
        raise ValueError(f"output {dst}: expected a .safetensors file name")
    model = create_model(name, checkpoint=args.src)
    save_checkpoint(model, dst, name=None if name.endswith((".yaml", ".yml")) else name)
    print(f"wrote {dst} ({name}, {len(model.state_dict())} tensors)")
    return 0
