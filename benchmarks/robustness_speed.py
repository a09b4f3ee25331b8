"""How long a robustness sweep takes, and what a second model adds (issue 27, target: the pair in at most
1.3× the time of one model — each corrupted image is made once and shared).

  python benchmarks/robustness_speed.py MODEL_A MODEL_B --data CONFIG [--corruptions all] [--workers 2] [--batch-size 4]

Runs `idrnet.robustness` with MODEL_A alone, then with both, in fresh temporary folders, and prints the
wall-clock times (one line of JSON is appended to --record when given). First it times the same sweep with
no model at all (the loader workers corrupting and handing over every image): what one model's sweep costs
beyond that is its inference, and the pair should add about that much again, not the corruption a second
time. The ratio can reach 1.3 only where corrupting is at least about 70 % of one model's sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from timing import append_record, cpu_name  # beside this script


def timed(models: list[str], args: argparse.Namespace) -> float:
    import idrnet

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        idrnet.robustness(*models, data=args.data, corruptions=args.corruptions, severities=args.severities,
                          out=Path(folder) / "r", workers=args.workers, batch_size=args.batch_size, precision=args.precision, backend=args.backend, limit=args.limit,
                          resamples=args.resamples, progress=True)
        return time.perf_counter() - start


def corruption_only(args: argparse.Namespace) -> float:
    """The sweep's loader alone: every cell's images corrupted in the workers and handed over, no model."""
    from idrnet.data.build import build_split
    from idrnet.data.corruptions import select_corruptions
    from idrnet.engine.config import load_train_config
    from idrnet.evaluation.robustness import run_sweep, sweep_cells

    config = load_train_config(args.data, [])
    dataset = build_split(config.data, config.data.val_split, train=False, seed=config.seed)
    count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    cells = sweep_cells(select_corruptions(list(args.corruptions)), args.severities)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_sweep([], [], dataset, cells, Path(folder) / "cells", count, "cpu", None, args.workers, 0,
                  progress=True, batch_size=args.batch_size)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_a")
    parser.add_argument("model_b")
    parser.add_argument("--data", required=True)
    parser.add_argument("--corruptions", nargs="+", default=["all"])
    parser.add_argument("--severities", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--precision", default="fp32", help="fp32, bf16 or int8, as every verb takes it")
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--threads", type=int, help="torch threads in the main process (default: torch's)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--record", help="append the figures as one JSON line to this file")
    args = parser.parse_args()
    import torch

    from idrnet.deploy.runtime import cpu_has_bf16

    if args.threads:
        torch.set_num_threads(args.threads)
    none = corruption_only(args)
    one = timed([args.model_a], args)
    two = timed([args.model_a, args.model_b], args)
    record = {"no_model_s": round(none, 1), "one_model_s": round(one, 1), "two_models_s": round(two, 1),
              "ratio": round(two / one, 3), "first_model_adds_s": round(one - none, 1),
              "second_model_adds_s": round(two - one, 1),
              "corruptions": args.corruptions, "severities": args.severities, "limit": args.limit,
              "workers": args.workers, "batch_size": args.batch_size, "precision": args.precision, "backend": args.backend, "torch_threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "machine": cpu_name(),
              "bf16_instructions": cpu_has_bf16(),
              "models": [args.model_a, args.model_b]}
    print(json.dumps(record))
    if args.record:
        append_record(args.record, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
