"""Train a model from a YAML config.

  idrnet train CONFIG [--set key=value ...] [--work-dir DIR] [--resume [CKPT|auto] | --overwrite]

Runs on the CPU, one GPU, or several GPUs/nodes with torchrun (DDP):
  torchrun --nproc-per-node 4 -m idrnet.cli.main train CONFIG
Ctrl-C or SIGTERM writes a resumable checkpoint (work_dir/latest.pt) before exiting (exit 130 / 143).
--resume auto (or resume: auto in the config) continues the work dir's run of this config if there is
one and starts one otherwise: the command a requeued or restarted job runs (docs/cluster.md).
A work dir that holds another run is never overwritten: --resume continues it, --overwrite replaces it.
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
                        help="continue from CKPT, or from WORK_DIR/latest.pt when no path is given; auto: continue "
                             "if the work dir holds a run of this config, else start")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in a work dir that holds another run (its checkpoints and log are removed)")
    parser.add_argument("--allow-config-change", action="store_true",
                        help="resume although the config differs from the checkpoint's (schedule, model, data)")
    parser.add_argument("--baseline", action="store_true",
                        help="train the same config without IDRNet (IDRNet-FCN → FCN, +PPM → PSPNet, …; a config line "
                             "with idrnet: false) into WORK_DIR_baseline: the other arm of an A/B test from one file")


def baseline_training(config, explicit_work_dir: bool):
    """``config`` with its model replaced by the baseline (see :func:`idrnet.dropin.external.baseline_of`);
    its work dir gets ``_baseline`` appended unless the command line named one, so the two arms of an A/B
    test never share a work dir."""
    import dataclasses

    from ..dropin.external import baseline_of
    from ..models.zoo import get_entry

    model = get_entry(config.model).config if isinstance(config.model, str) else config.model
    work_dir = config.work_dir if explicit_work_dir else config.work_dir.rstrip("/\\") + "_baseline"
    return dataclasses.replace(config, model=baseline_of(model), work_dir=work_dir)


def run(args: argparse.Namespace) -> int:
    """Train (each validation printed as it comes) and print a summary."""
    import os
    import sys

    from ..engine.config import config_warnings, load_train_config
    from .common import say_workers_exceed_cores
    from ..engine.trainer import train

    from pathlib import Path

    from ..config import ConfigError

    overrides = list(args.overrides) + ([f"work_dir={args.work_dir}"] if args.work_dir else [])
    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: continue the run, or replace it")
    config = load_train_config(args.config, overrides)
    if args.baseline:
        config = baseline_training(config, explicit_work_dir=bool(args.work_dir) or any(
            item.split("=", 1)[0].strip() == "work_dir" for item in args.overrides))
    saved = Path(config.work_dir) / "config.yaml"
    if not args.resume and config.resume != "auto" and saved.exists() and saved.resolve() == Path(args.config).resolve():
        from ..engine.work_dir import existing_run_files

        if not existing_run_files(Path(config.work_dir)):  # the user's own config, where a run saves its own
            raise ConfigError(f"{args.config} lies where the run would save its resolved config "
                              f"({config.work_dir}/config.yaml) and would be replaced: keep your config outside the "
                              "work dir, or choose another --work-dir")
        raise ConfigError(f"{args.config} is the saved config of the run in {config.work_dir}: pass --resume to "
                          "continue that run, or --work-dir to train a new one from it")
    first = os.environ.get("RANK", "0") == "0"  # says it once per job under torchrun
    if first:
        for warning in config_warnings(config):
            print(f"idrnet train: warning: {warning}", file=sys.stderr)
    say_workers_exceed_cores(config.data.num_workers, "data.num_workers", "idrnet train" if first else None)
    result = train(config, resume=args.resume, overwrite=args.overwrite, allow_config_change=args.allow_config_change)
    metrics = result["metrics"]
    if metrics:
        # each validation was printed as it came; this is the summary
        print(f"done at iteration {result['iteration']}: last val mIoU {100 * metrics['mIoU']:.2f}, best "
              f"{100 * result['best_miou']:.2f}; outputs in {result['work_dir']}")
    return 0
