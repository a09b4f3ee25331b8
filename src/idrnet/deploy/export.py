"""Export a segmentor to ONNX with dynamic batch, height and width."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from ..errors import InputError
from ..atomic import atomic_path
from ..config import to_dict
from ..models.checkpoint import deprecated_keyword, description_json
from ..models.config import record_for_storage
from ..models.segmentor import Segmentor

# Keys of the ONNX model's metadata_props.
ONNX_CONFIG_KEY = "idrnet_config"
ONNX_ATTACH_KEY = "idrnet_attach_config"  # the AttachConfig of a model IDRNet was attached to
ONNX_DATA_KEY = "idrnet_data"
ONNX_PRECISION_KEY = "idrnet_precision"  # "int8" in a file quantised by idrnet (absent: fp32)
ONNX_FIXED_SIZE_KEY = "idrnet_fixed_size"  # [H, W] of a graph exported for that size only


class _Scores(torch.nn.Module):
    """``forward`` = the model's ``forward_scores``: logits at the input's size as one tensor (an
    attached model's own ``forward`` may return a dict, as torchvision's do)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.forward_scores(images)


# Sizes `export_onnx` and `idrnet export` compare ONNX Runtime with PyTorch at, besides the example size:
# a square one and an odd, non-square one (where a size baked into the graph shows).
CHECK_SIZES: tuple[tuple[int, int], ...] = ((256, 256), (321, 479))


# The sides (pixels) a graph for any input size is traced for: torch.export guards them at every call of an
# exported program (the PT2E int8 graph); ONNX files record them but ONNX Runtime does not enforce them.
MIN_SIDE, MAX_SIDE = 32, 8192
# torch's dynamo exporter writes opset 18 graphs; lower opsets go through ONNX's version converter, which
# fails on them (and the exporter then keeps opset 18 without saying so).
EXPORTER_MIN_OPSET = 18


def export_onnx(
    model: torch.nn.Module,
    path: str | os.PathLike,
    example_size: tuple[int, int] = (256, 256),
    min_size: int = MIN_SIDE,
    max_size: int = MAX_SIDE,
    data_description: Any = None,
    opset: int | None = None,
    *,
    check_sizes: Sequence[tuple[int, int]] | None = CHECK_SIZES,
    fixed_size: bool = False,
    report: Callable[[tuple[int, int], dict[str, float] | str], None] | None = None,
    data_meta: str | None = None,
) -> Path:
    """Write ``model`` (eval mode, ``forward``: images → logits at the input size) as an ONNX file,
    verified before it is kept.

    The graph takes ``images`` ``(B, 3, H, W)`` float32 (normalised) with dynamic B, H and W
    (``min_size`` ≤ H, W ≤ ``max_size``), or with ``fixed_size`` H×W = ``example_size`` only, and returns
    ``logits`` ``(B, K, H, W)``. The model config and ``data_description`` (a DataDescription or its
    JSON: class names, palette, test resize; ``data_meta`` is its deprecated name) go into the file's
    metadata. Uses the dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``, needs onnxscript).
    ``model``: one of our segmentors, or a model IDRNet was attached to (:func:`idrnet.attach`).

    Verification (needs onnxruntime; ``check_sizes=None`` skips it): ONNX Runtime's logits must agree
    with PyTorch's (:func:`agrees`) at the example size and at each of ``check_sizes`` (only the example
    size for ``fixed_size``). A model right only at its export size (adaptive pooling to a size that is
    not a factor of its features, say) is refused with :class:`~idrnet.errors.InputError` naming
    ``fixed_size=True``; nothing is written unless the file agrees. Written atomically. ``report`` is
    called with each size's figures (see :func:`verify_onnx`).
    """
    from ..optional import require

    if Path(path).suffix.lower() != ".onnx":  # every reader (predict, serve, bench) knows an export by it
        raise InputError(f"{path}: export_onnx writes an .onnx file; name it {Path(path).with_suffix('.onnx').name}")
    if Path(path).is_dir():
        raise IsADirectoryError(f"{path} is a folder; export_onnx writes an .onnx file")
    data_description = description_json(data_description if data_description is not None else deprecated_keyword(data_meta),
                                        model)
    onnx = require("onnx", "ONNX export")
    require("onnxscript", "ONNX export")
    if not fixed_size and not all(min_size <= side <= max_size for side in example_size):
        raise InputError(f"example_size={example_size[0]}x{example_size[1]}: a graph for any size is traced at sides of "
                         f"{min_size} to {max_size} pixels; choose one in that range, or export for this size only "
                         "(fixed_size=True)")
    if opset is not None and not EXPORTER_MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise InputError(f"opset={opset}: expected {EXPORTER_MIN_OPSET} (the exporter's own) to "
                         f"{onnx.defs.onnx_opset_version()} (the newest this onnx knows)")
    sizes = [tuple(example_size)] + ([] if fixed_size else [tuple(s) for s in check_sizes or () if tuple(s) != tuple(example_size)])
    if check_sizes is not None:
        require("onnxruntime", "checking the export (check_sizes=None skips it)")
    model = model.eval()
    with on_the_cpu(model):
        return _export(model, Path(path), example_size, min_size, max_size, data_description, opset, sizes,
                       check_sizes is not None, fixed_size, report)


@contextlib.contextmanager
def on_the_cpu(model: torch.nn.Module) -> Iterator[None]:
    """``model`` on the CPU meanwhile, and back where it was afterwards: a model trained on a GPU is traced and
    checked against ONNX Runtime (a CPU runtime) on the CPU, in fp32 arithmetic as the exported graph."""
    from ..devices import device_of

    device = torch.device(device_of(model))
    if device.type == "cpu":
        yield
        return
    model.cpu()
    try:
        yield
    finally:
        model.to(device)


def _export(model: torch.nn.Module, path: Path, example_size: tuple[int, int], min_size: int, max_size: int,
            data_description: str | None, opset: int | None, sizes: list[tuple[int, ...]], check: bool,
            fixed_size: bool, report: Callable[[tuple[int, int], dict[str, float] | str], None] | None) -> Path:
    from ..optional import require

    onnx = require("onnx", "ONNX export")
    # A batch of 2 keeps the exporter from specialising the batch size to 1.
    example = torch.randn(2, 3, *example_size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    dims = {0: batch}
    if not fixed_size:
        dims.update({2: torch.export.Dim("height", min=min_size, max=max_size),
                     3: torch.export.Dim("width", min=min_size, max=max_size)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = {"opset_version": opset} if opset else {}
        program = torch.onnx.export(
            model if isinstance(model, Segmentor) else _Scores(model), (example,), dynamo=True, input_names=["images"],
            output_names=["logits"], dynamic_shapes={"images": dims}, verbose=False, **kwargs,
        )
    proto = program.model_proto
    set_metadata(proto, onnx_metadata(model, data_description))
    if fixed_size:
        set_metadata(proto, {ONNX_FIXED_SIZE_KEY: json.dumps(list(example_size))})
    with atomic_path(path) as tmp:
        onnx.save(proto, tmp)
        if check:
            _verify(model, Path(tmp), sizes, path, fixed_size, report)
    return path


def verify_onnx(model: torch.nn.Module, path: str | os.PathLike,
                sizes: Sequence[tuple[int, int]]) -> list[tuple[tuple[int, int], dict[str, float] | str]]:
    """ONNX Runtime against PyTorch at each size: :func:`output_agreement`'s figures, or the runtime's
    error message where it fails to run the file at that size."""
    from .onnx_model import OnnxSegmentor

    runner = OnnxSegmentor(path)
    results: list[tuple[tuple[int, int], dict[str, float] | str]] = []
    for h, w in sizes:
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(h * 10007 + w))
        with torch.no_grad():
            expected = model.forward_scores(x)
        try:
            results.append(((h, w), output_agreement(expected, runner(x))))
        except InputError:
            raise
        except Exception as err:  # noqa: BLE001 - ONNX Runtime's failure at a size is the finding
            results.append(((h, w), " ".join(str(err).split())[:200]))
    return results


def _verify(model: torch.nn.Module, written: Path, sizes: list, path: Path, fixed_size: bool,
            report: Callable | None) -> None:
    results = verify_onnx(model, written, sizes)
    for size, stats in results if report else ():
        report(size, stats)
    bad = [(size, stats) for size, stats in results if isinstance(stats, str) or not agrees(stats)]
    if not bad:
        return
    (h, w), stats = bad[0]
    found = stats if isinstance(stats, str) else (
        f"norm-relative error {stats['norm_relative']:.1e} (limit {NORM_TOLERANCE:.0e}), same label on "
        f"{100 * stats['same_label']:.2f}% of pixels (at least {100 * LABEL_AGREEMENT:.1f}% needed)")
    example_ok = results[0][0] not in [size for size, _ in bad]
    if example_ok and not fixed_size:
        raise InputError(
            f"{path}: not written: the exported graph is right at its export size {sizes[0][0]}x{sizes[0][1]} but "
            f"not at {h}x{w} ({found}) — the model bakes a size in (adaptive pooling to a size that is not a "
            f"factor of its features, say); export it for one size with fixed_size=True (idrnet export "
            f"--fixed-size) at the size it will run at")
    raise InputError(f"{path}: not written: ONNX Runtime differs from PyTorch at {h}x{w}: {found}")


def onnx_metadata(model: torch.nn.Module, data_description: Any = None) -> dict[str, str]:
    """The metadata an exported file carries: the model config (ours or an attach config) and the data
    description."""
    key = ONNX_CONFIG_KEY if isinstance(model, Segmentor) else ONNX_ATTACH_KEY
    data_description = description_json(data_description)
    meta = {key: json.dumps(record_for_storage(to_dict(model.config), data_description))}
    if data_description:
        meta[ONNX_DATA_KEY] = data_description
    return meta


def set_metadata(proto, meta: dict[str, str]) -> None:
    """Write ``meta`` into an ONNX ModelProto's metadata_props (replacing entries of the same keys)."""
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    for key, value in [*kept, *meta.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


# An exported graph agrees with PyTorch when the logits' norm-relative error is at most NORM_TOLERANCE
# and at least LABEL_AGREEMENT of the pixels get the same label. The maximum element-wise error is
# reported but not judged: fp32 reordering in a deep network reaches 1e-4 of the largest logit on
# single elements while the whole output agrees to ~1e-5, and a real mismatch (a wrong operator, a
# baked-in size) moves the norm by far more and changes labels.
NORM_TOLERANCE = 1e-4
LABEL_AGREEMENT = 0.999


def output_agreement(expected: torch.Tensor, got: torch.Tensor) -> dict[str, float]:
    """``norm_relative`` (‖got − expected‖ / ‖expected‖), ``max_relative`` (max |Δ| / max |expected|)
    and ``same_label`` (share of pixels whose argmax agrees) of two logit tensors ``(B, K, H, W)``."""
    if got.shape != expected.shape:
        raise InputError(f"the exported model returned shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}")
    diff = (got.float() - expected.float())
    return {
        "norm_relative": float(diff.norm() / expected.float().norm().clamp_min(1e-12)),
        "max_relative": float(diff.abs().max() / expected.abs().max().clamp_min(1e-12)),
        "same_label": float((got.argmax(1) == expected.argmax(1)).float().mean()),
    }


def agrees(stats: dict[str, float]) -> bool:
    """The export criterion (see :data:`NORM_TOLERANCE`, :data:`LABEL_AGREEMENT`)."""
    return stats["norm_relative"] <= NORM_TOLERANCE and stats["same_label"] >= LABEL_AGREEMENT
