"""Train a model from a YAML config.

  idrnet train CONFIG [--set key=value ...] [--work-dir DIR] [--resume [CKPT]]

Runs on the CPU, one GPU, or several GPUs/nodes with torchrun (DDP):
  torchrun --nproc-per-node 4 -m idrnet.cli.main train CONFIG
Ctrl-C or SIGTERM writes a resumable checkpoint (work_dir/latest.pt) before exiting.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet train``."""
    parser.add_argument("config", help="training YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.lr=0.02 (repeatable)")
    parser.add_argument("--work-dir", help="output folder (default: the config's work_dir)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="CKPT",
                        help="continue from CKPT, or from WORK_DIR/latest.pt when no path is given")


def run(args: argparse.Namespace) -> int:
    """Train and print the final validation mIoU."""
    from ..engine.config import load_train_config
    from ..engine.trainer import train

    overrides = list(args.overrides) + ([f"work_dir={args.work_dir}"] if args.work_dir else [])
    config = load_train_config(args.config, overrides)
    result = train(config, resume=args.resume)
    metrics = result["metrics"]
    if metrics:
        print(f"iteration {result['iteration']}: val mIoU {100 * metrics['mIoU']:.2f}, aAcc {100 * metrics['aAcc']:.2f}"
              f" (best {100 * result['best_miou']:.2f}); outputs in {result['work_dir']}")
    return 0
