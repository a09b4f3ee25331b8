"""``idrnet.robustness``: how one model, or a baseline and its IDRNet version, hold up under image
corruptions (Hendrycks & Dietterich) — clean mIoU, mIoU per corruption and severity, mPC and rPC, and for
two models the paired differences with bootstrap intervals; the report, its tables and its plots."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

from ..atomic import write_json, write_text
from ..errors import InputError
from ..devices import device_of
from ..output_paths import check_folder_name

SEVERITIES = (1, 2, 3, 4, 5)
# What a run writes into its folder; --overwrite removes these and nothing else.
OUTPUTS = ("run.json", "cells", "examples", "robustness.json", "robustness.md", "miou_by_severity.png",
           "rpc_by_corruption.png", "examples.png")


def _identity(source: Any) -> Any:
    """What a model argument is, for telling whether a folder's cells were made by the same models."""
    from ..models.model_folder import WEIGHTS_NAME, is_model_folder

    source = Path(source) / WEIGHTS_NAME if is_model_folder(source) else source
    if isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        stat = Path(source).stat()
        return {"file": str(Path(source).resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__


def _check_severities(severities: Sequence[int] | int) -> list[int]:
    if isinstance(severities, int) and not isinstance(severities, bool):
        severities = [severities]  # one level, as --severities 3 gives it
    if isinstance(severities, (str, bytes)) or not hasattr(severities, "__iter__"):
        raise InputError(f"severities={severities!r}: expected a list of integers from 1 to 5, such as [1, 3, 5]")
    chosen = sorted(set(severities))
    bad = [s for s in chosen if s not in SEVERITIES or isinstance(s, bool)]
    if bad or not chosen:
        raise InputError(f"severities={' '.join(map(str, severities)) or 'none'}: expected values from 1 to 5")
    return chosen


def _check_out_folder(out: Path, overwrite: bool) -> bool:
    """Refuse a file, a finished report or a folder of other files (without ``overwrite``); return whether
    ``out`` holds an unfinished run whose settings are still to be compared."""
    if out.is_file():
        raise NotADirectoryError(f"out={out} is a file; robustness writes a folder")
    check_folder_name(out, "out=", "the report, plots and finished cells", "runs/robustness")
    if not (out.is_dir() and any(out.iterdir())) or overwrite:
        return False
    if (out / "robustness.json").is_file():
        raise FileExistsError(f"out={out} holds a finished robustness report; pass overwrite=True to replace it, "
                              "or choose another folder")
    if not (out / "run.json").is_file():
        raise FileExistsError(f"out={out} is not empty and holds no robustness run; choose an empty or new folder")
    return True


def _check_out(out: Path, key: dict[str, Any], overwrite: bool) -> None:
    """Refuse, before any work, a folder holding a finished report, another run's cells or other files
    (without ``overwrite``)."""
    if not _check_out_folder(out, overwrite):
        return
    run_file = out / "run.json"
    try:
        earlier = json.loads(run_file.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{run_file}: unreadable ({err}); pass overwrite=True to start again") from None
    if not isinstance(earlier, dict):
        raise InputError(f"{run_file}: not the record of a robustness run; pass overwrite=True to start again")
    changed = sorted(k for k in set(key) | set(earlier) if key.get(k) != earlier.get(k))
    if changed:
        raise FileExistsError(f"out={out} holds an unfinished run with other settings ({', '.join(changed)} "
                              "differ); run the same command to continue it, pass overwrite=True to replace it, "
                              "or choose another folder")


def _start_out(out: Path, key: dict[str, Any], overwrite: bool) -> None:
    """With ``overwrite``, remove this verb's outputs (and nothing else) from ``out``; record the run."""
    if overwrite and out.is_dir():
        for name in OUTPUTS:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "run.json", key)


def robustness(
    model_a: Any,
    model_b: Any = None,
    *,
    data: str | os.PathLike,
    split: str | None = None,
    corruptions: Sequence[str] = ("all",),
    severities: Sequence[int] = SEVERITIES,
    out: str | os.PathLike | None = None,
    resamples: int = 1000,
    names: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    device: str | torch.device | None = None,
    precision: str = "fp32",
    backend: str = "auto",
    calibration: str | os.PathLike | None = None,
    workers: int = 2,
    batch_size: int = 4,
    limit: int | None = None,
    save_examples: int = 0,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model_a`` (and ``model_b``) on ``data``'s split (a training YAML, or a custom dataset
    folder resized as the models were trained; default its val split),
    clean and under each corruption (``all``, group or corruption names) at each severity, and return the
    report (``docs/robustness.md`` describes it). Both models see the same corrupted image, made once.

    With ``out`` the report is written there (``robustness.json``, ``robustness.md``, plots) and each
    finished cell as it completes: the same call again continues an interrupted run; a finished folder is
    not replaced without ``overwrite``. Models are zoo names (published weights), ``.safetensors``,
    ``.onnx`` or model YAML files, as for every verb, or built models. ``device``: the CPU by default, or
    the device a built ``model_a`` is on. ``batch_size`` images of one condition go through a model at a
    time."""
    from ..data.build import build_split, require_labels
    from ..data.corruptions import select_corruptions
    from .evaluation_data import dataset_folder, evaluation_data
    from ..evaluation.robustness import (
        CellImages, format_report, load_cells, example_rows, run_sweep, summarise, sweep_cells,
    )
    from .calibration import accelerate_for_dataset
    from .load import check_ignore_label, class_names_note, distinct_names, load_trained, same_weights_note, source_name

    chosen = select_corruptions([corruptions] if isinstance(corruptions, str) else list(corruptions))  # "fog" alone
    levels = _check_severities(severities)
    if resamples < 10:
        raise InputError(f"resamples={resamples}: expected at least 10")
    if batch_size < 1:
        raise InputError(f"batch_size={batch_size}: expected at least 1")
    sources = [s for s in (model_a, model_b) if s is not None]
    if names is not None and len(names) != len(sources):
        raise InputError(f"names={' '.join(names) or 'none'}: expected "
                         f"{'one name' if len(sources) == 1 else 'two names, one per model'}, got {len(names)}")
    if names is not None and len(set(names)) != len(names):
        raise InputError(f"names={' '.join(names)}: the report, tables and plots tell the models apart by these "
                         "names; give each its own")
    device = torch.device(device_of(model_a) if device is None else device)  # a built model is run where it is
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        _check_out_folder(out_dir, overwrite)  # a finished --out is refused before the models load
    # a dataset folder is resized as the models were trained: their stored descriptions say how
    loaded = [load_trained(s, device) for s in sources] if dataset_folder(data) else None
    data_config, data_seed = evaluation_data(data, overrides, [item.description for item in loaded or ()])
    split = split or data_config.val_split
    if out_dir is not None:
        root, target = Path(data_config.root).resolve(), out_dir.resolve()
        if target == root or root in target.parents:
            raise InputError(f"out={out_dir} lies inside the dataset folder {root}; choose a folder outside it")
    require_labels(data_config, split, "robustness")
    dataset = build_split(data_config, split, train=False, seed=data_seed)
    if len(dataset) == 0:
        raise FileNotFoundError(f"no samples in split {split} under {data_config.root}")
    count = len(dataset) if limit is None else min(limit, len(dataset))
    key = {"models": [_identity(s) for s in sources], "data": str(Path(data).resolve()), "overrides": list(overrides),
           "split": split, "images": count, "corruptions": chosen, "severities": levels, "seed": seed,
           "precision": precision, "backend": backend}
    if out_dir is not None:
        _check_out(out_dir, key, overwrite)
    loaded = loaded or [load_trained(s, device) for s in sources]
    labels = list(names) if names else (list(distinct_names(str(model_a), str(model_b))) if len(sources) == 2
                                        else [source_name(model_a)])
    if len(loaded) == 2 and loaded[0].model.num_classes != loaded[1].model.num_classes:
        raise InputError(f"model A ({labels[0]}) has {loaded[0].model.num_classes} classes, model B ({labels[1]}) "
                         f"{loaded[1].model.num_classes}: a paired comparison needs the same classes")
    for arm, item in zip("AB", loaded):
        if item.model.num_classes != dataset.info.num_classes:
            raise InputError(f"model {arm} has {item.model.num_classes} classes, the dataset {dataset.info.num_classes}")
        check_ignore_label(item.description, dataset)
        note = class_names_note(item.description, dataset, f"model {arm}")
        if note:
            warnings.warn(note, stacklevel=2)
    same = same_weights_note(loaded[0].model, loaded[1].model) if len(loaded) == 2 else None
    if same:
        warnings.warn(same, stacklevel=2)
    models = [accelerate_for_dataset(item.model, precision, backend, calibration or data, dataset, device, seed=data_seed)
              for item in loaded]
    inferences = [m.config.inference for m in models]
    cells = sweep_cells(chosen, levels)
    scratch = None
    if out_dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="idrnet-robustness-")
        work = Path(scratch.name)
    else:
        _start_out(out_dir, key, overwrite)
        work = out_dir
    try:
        run_sweep(models, inferences, dataset, cells, work / "cells", count, device, None, workers, seed,
                  save_examples, work / "examples", progress, batch_size)
        inter, union = load_cells(work / "cells", cells, len(models), count, dataset.info.num_classes)
    finally:
        if scratch is not None:
            scratch.cleanup()
    report = summarise(inter, union, cells, labels, resamples, seed)
    report["models"] = {k: {**v, "source": str(s)} for (k, v), s in zip(report["models"].items(), sources)}
    report.update({"classes": list(dataset.info.classes), "split": split, "data": str(data),
                   "precision": precision, "backend": getattr(models[0], "backend", backend)})
    if out_dir is not None:
        from ..visualization.robustness import example_grid, rpc_bars, severity_curves

        write_text(out_dir / "robustness.md", format_report(report))
        plots = {"severity": str(severity_curves(report, out_dir / "miou_by_severity.png")),
                 "rpc": str(rpc_bars(report, out_dir / "rpc_by_corruption.png"))}
        if chosen:
            images = CellImages(dataset, cells, count, seed)
            rows, label = example_rows(models, inferences, images, levels[len(levels) // 2], device)
            plots["examples"] = str(example_grid(rows, label, [f"{k}: {n}" for k, n in zip("AB", labels)],
                                                 dataset.info.classes, dataset.info.palette, out_dir / "examples.png",
                                                 dataset.info.ignore_index))
        report["plots"] = plots
        write_json(out_dir / "robustness.json", report)  # last: its presence marks a finished folder
    return report
