"""How long a robustness sweep takes, and what a second model adds (issue 27, target: the pair in at most
1.3× the time of one model — each corrupted image is made once and shared).

  python benchmarks/robustness_speed.py MODEL_A MODEL_B --data CONFIG [--corruptions all] [--workers 2] [--batch-size 4]

Runs `idrnet.robustness` with MODEL_A alone, then with both, in fresh temporary folders, and prints the
wall-clock times (one line of JSON is appended to --record when given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def timed(models: list[str], args: argparse.Namespace) -> float:
    import idrnet

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        idrnet.robustness(*models, data=args.data, corruptions=args.corruptions, severities=args.severities,
                          out=Path(folder) / "r", workers=args.workers, batch_size=args.batch_size, backend=args.backend, limit=args.limit,
                          resamples=args.resamples, progress=True)
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
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--record", help="append the figures as one JSON line to this file")
    args = parser.parse_args()
    import torch

    one = timed([args.model_a], args)
    two = timed([args.model_a, args.model_b], args)
    record = {"one_model_s": round(one, 1), "two_models_s": round(two, 1), "ratio": round(two / one, 3),
              "corruptions": args.corruptions, "severities": args.severities, "limit": args.limit,
              "workers": args.workers, "batch_size": args.batch_size, "backend": args.backend, "torch_threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
              "models": [args.model_a, args.model_b]}
    print(json.dumps(record))
    if args.record:
        with open(args.record, "a") as f:
            f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
