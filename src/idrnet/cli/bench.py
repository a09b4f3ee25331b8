"""Measure inference speed and memory (mmsegmentation's protocol: warm-up, many runs, median).

  idrnet bench MODEL [--size 512x512] [--batch 1] [--precision fp32 bf16 int8]
                     [--backend eager compile onnxruntime openvino] [--vs-baseline] [--calibration DIR_OR_CONFIG]

MODEL is a zoo name, model YAML or .safetensors file (weights are not needed for timing), or an .onnx file
from `idrnet export` (timed as it is deployed: ONNX Runtime by default, or OpenVINO). Reports
latency (median, p10, p90), images/s, peak memory, parameters and GFLOPs with the device and threads.
--vs-baseline measures the IDRNet model and the same network without IDRNet; every precision × backend
combination idrnet runs (int8 eager and bf16 ONNX Runtime are not among them, and are skipped with a note)
is measured in one process with the timed runs interleaved, and the ratios to fp32 eager are printed.
int8 is calibrated on --calibration images, or on noise (which times it faithfully, no more).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError
from .common import at_least, check_writable
from .export import _example_size as _size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``idrnet bench``."""
    parser.add_argument("model", help="zoo name, model YAML, .safetensors or .onnx file")
    parser.add_argument("--size", type=_size, default=(512, 512), metavar="HxW", help="input size (default 512x512)")
    parser.add_argument("--batch", type=at_least(1), default=1, help="images per forward (default 1)")
    from ..deploy.backends import BACKENDS, PRECISIONS

    parser.add_argument("--backend", nargs="+", choices=list(BACKENDS),
                        help="one or more backends (default eager; onnxruntime for an .onnx file)")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS,
                        help="one or more precisions (default fp32; an .onnx file's own)")
    parser.add_argument("--calibration", metavar="DIR_OR_CONFIG", help="int8: calibration images (default: noise)")
    parser.add_argument("--calibration-images", type=at_least(1), default=8, metavar="N", help="int8: how many (default 8)")
    parser.add_argument("--vs-baseline", action="store_true", help="also measure the model without IDRNet; print the ratio")
    parser.add_argument("--warmup", type=at_least(0), default=3, help="untimed runs first (default 3)")
    parser.add_argument("--runs", type=at_least(1), default=20, help="timed runs per model (default 20)")
    parser.add_argument("--rounds", type=at_least(1), default=4, help="interleaved rounds when comparing (default 4)")
    parser.add_argument("--threads", type=at_least(1), help="CPU threads (default: PyTorch's)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--json", help="append the results to this JSON-lines file")


def _ratio(a: float | None, b: float | None, floor: float = 0.0) -> str:
    """``×a/b``, or why there is none: a side not measured, or below ``floor`` (memory growth under 1 MiB
    is allocator noise, and a ratio to it means nothing)."""
    if a is None or b is None:
        return "× n/a (not measured)"
    if b <= floor or a <= floor:
        return f"× n/a ({a:.0f} vs {b:.0f} MiB: too small to compare)" if floor else "× n/a"
    return f"×{a / b:.2f}"


def run(args: argparse.Namespace) -> int:
    """Benchmark and print one line per model and backend."""
    import torch

    previous_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args: argparse.Namespace) -> int:
    import torch

    from ..apis.load import check_model_source, is_graph_file, load, source_name
    from ..deploy.bench import benchmark_pairs
    from ..deploy.runtime import GRAPH_BACKENDS
    from ..devices import usable_cores
    from ..dropin.external import baseline_of, build_any
    from .common import device_from_args

    device = device_from_args(args)
    check_model_source(args.model)
    if args.json:
        check_json_lines_output(Path(args.json), args.model)
    graph = is_graph_file(args.model)
    if graph and args.vs_baseline:
        raise InputError(f"--vs-baseline builds the network without IDRNet from the PyTorch model; pass the "
                         f".safetensors file or config {args.model} was exported from")
    if graph and args.calibration:
        raise InputError(f"--calibration quantises a PyTorch model; {args.model} is already exported and runs in its "
                         "own precision (for int8: idrnet export --precision int8 --calibration ...)")
    model = load(args.model).model
    name = source_name(args.model)
    models = {name: model}
    if args.vs_baseline:
        baseline = build_any(baseline_of(getattr(model, "external", None) or model.config))
        models[f"{name} (baseline, no IDRNet)"] = baseline.eval()
    print(f"device {device}, {torch.get_num_threads() if device.type == 'cpu' else 'n/a'} CPU threads, "
          f"torch {torch.__version__}")
    cores = usable_cores()
    if device.type == "cpu" and args.threads and args.threads > cores:
        print(f"note: --threads {args.threads} on {cores} CPU core(s) this process may use: the threads take turns, "
              f"so the times measure that contention, not the model; --threads {cores} or fewer measures the model")
    # An exported file is timed as it is deployed: ONNX Runtime, in the precision it was written in.
    backends = list(dict.fromkeys(args.backend or ([GRAPH_BACKENDS[0]] if graph else ["eager"])))
    if graph and set(backends) - set(GRAPH_BACKENDS):
        raise InputError(f"{args.model} is an exported model: it runs with --backend {' or '.join(GRAPH_BACKENDS)}, not "
                         f"{', '.join(b for b in backends if b not in GRAPH_BACKENDS)}")
    precisions = list(dict.fromkeys(args.precision or [model.precision if graph else "fp32"]))
    pairs = _runnable(precisions, backends, device)
    calibration = _calibration(args, model) if "int8" in precisions and not graph else None
    several = len(models) * len(pairs) > 1
    lines = benchmark_pairs(models, pairs, tuple(args.size), args.batch, args.warmup, args.runs,
                            args.rounds if several else 1, device, calibration)
    for r in lines:
        print(r.line())
    by = {(r.name, r.precision, r.backend): r for r in lines}
    names = list(models)
    for precision, backend in pairs:
        if args.vs_baseline:
            idr, base = by[(names[0], precision, backend)], by[(names[1], precision, backend)]
            print(f"  IDRNet / baseline [{precision}, {backend}]: latency ×{idr.latency_ms_median / base.latency_ms_median:.2f}, "
                  f"GFLOPs {_ratio(idr.gflops, base.gflops)}, params ×{idr.params_m / base.params_m:.2f}, "
                  f"peak memory {_ratio(idr.peak_memory_mib, base.peak_memory_mib, floor=1.0)}")
        if (precision, backend) != ("fp32", "eager") and ("fp32", "eager") in pairs:
            for name in names:
                ratio = by[(name, precision, backend)].latency_ms_median / by[(name, "fp32", "eager")].latency_ms_median
                label = f"{backend} / eager" if precision == "fp32" else f"{precision} {backend} / fp32 eager"
                print(f"  {name}: {label} latency ×{ratio:.2f}")
    if args.json:
        import dataclasses

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)  # a new folder, as every verb's outputs may be
        with open(args.json, "a+b") as f:  # reads anywhere, writes always at the end
            size = f.seek(0, 2)
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    f.write(b"\n")  # a last line without its line break (an earlier run stopped mid-write)
            f.writelines((json.dumps(dataclasses.asdict(r)) + "\n").encode() for r in lines)
    return 0


def check_json_lines_output(path: Path, model: str) -> None:
    """Refuse, before any measurement, a ``--json`` file that results must not be appended to: the model
    itself, a folder, or an existing file that is not JSON lines (a picture, a checkpoint, a config)."""
    if Path(model).exists() and path.resolve() == Path(model).resolve():
        raise InputError(f"--json {path} is the model file; choose another file for the results")
    if path.is_dir():
        raise IsADirectoryError(f"--json {path} is a folder; expected a JSON-lines file")
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
        try:
            record = json.loads(first)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise InputError(f"--json {path} exists and is not a JSON-lines file of results (its first line is not "
                             "a JSON object); choose another file")
        if "latency_ms_median" not in record:  # e.g. a training run's log.jsonl, which resume reads back
            raise InputError(f"--json {path} holds JSON lines of something else (its first line has "
                             f"{', '.join(sorted(record)[:4]) or 'no keys'}, not idrnet bench's latency_ms_median); "
                             "choose another file")
    check_writable(path, "--json")


def _runnable(precisions: list[str], backends: list[str], device) -> list[tuple[str, str]]:
    """The (precision, backend) pairs to measure; the ones idrnet does not run are named and skipped."""
    from ..deploy.runtime import runnable_pairs

    pairs = runnable_pairs(precisions, backends, device)
    if not pairs:
        raise InputError("no precision/backend combination left to measure (see the notes above)")
    return pairs


def _calibration(args: argparse.Namespace, model):
    """int8 calibration tensors from --calibration (preprocessed as `idrnet predict` would), or None
    for noise."""
    if not args.calibration:
        print("note: int8 calibrated on noise images (timing only; pass --calibration for a meaningful int8 model)")
        return None
    from ..apis.load import stored_description
    from ..apis.predictor import Predictor
    from ..apis.calibration import calibration_files
    from ..deploy.calibration import calibration_batches

    preprocess = Predictor(model, backend="eager", data=stored_description(args.model)).preprocess
    return calibration_batches(calibration_files(args.calibration, args.calibration_images), preprocess)
