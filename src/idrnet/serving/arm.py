"""One served model ("arm" A or B of an A/B test): loading, warm-up, and a batch of predictions."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .options import Backend


@dataclass
class Arm:
    """A loaded model ready to label batches of same-size RGB images.

    ``name``: ``"A"`` or ``"B"``; ``source``: what the user named (zoo name, file); ``segmenter``: an
    :class:`idrnet.Segmenter`; ``backend``: how it runs.
    """

    name: str
    source: str
    segmenter: Any
    backend: Backend
    _workdir: Any = field(default=None, repr=False)  # holds an exported ONNX file while the arm lives

    @property
    def num_classes(self) -> int:
        """The model's number of classes."""
        return int(self.segmenter.model.num_classes)

    @property
    def ignore_index(self) -> int:
        """The label value ground-truth feedback uses for unlabelled pixels."""
        return int(self.segmenter.meta.ignore_index)

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this arm."""
        meta = self.segmenter.meta
        inference = self.segmenter.inference
        return {
            "model": self.source,
            "backend": self.backend,
            "num_classes": self.num_classes,
            "classes": list(meta.classes),
            "palette": [list(c) for c in meta.palette],
            "ignore_index": meta.ignore_index,
            "input": {
                "test_resize": list(self.segmenter.test_scale) if self.segmenter.test_scale else None,
                "keep_ratio": meta.keep_ratio,
                "inference_mode": inference.mode,
                "crop_size": list(inference.crop_size) if inference.crop_size else None,
                "stride": list(inference.stride) if inference.stride else None,
                "output": "labels at the input image's size",
            },
        }

    def predict(self, images: Sequence[np.ndarray], confidence: bool) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Labels (and each pixel's top probability when ``confidence``) of RGB images of one size."""
        if confidence:
            labels, top = self.segmenter.predict_batch(images, return_confidence=True)
            return labels, top
        return self.segmenter.predict_batch(images), None

    def warm_up(self, size: tuple[int, int] = (256, 256)) -> float:
        """One prediction of a blank image (compiles and allocates); returns its seconds."""
        start = time.perf_counter()
        self.predict([np.zeros((*size, 3), dtype=np.uint8)], confidence=True)
        return time.perf_counter() - start

    def close(self) -> None:
        """Delete the arm's exported ONNX file, if any."""
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


def load_arm(
    name: str,
    model: str,
    checkpoint: str | bool | None = None,
    data: str | None = None,
    backend: Backend | None = None,
    device: Any = "cpu",
) -> Arm:
    """Load ``model`` (anything ``idrnet predict`` accepts: zoo name with ``checkpoint``, ``.safetensors``,
    model YAML, config line, ``.onnx``) for ``backend`` (default: eager, or ONNX Runtime for ``.onnx``)."""
    from ..apis.segmenter import Segmenter
    from ..models.zoo import MODEL_ZOO

    is_onnx = str(model).endswith(".onnx")
    backend = backend or ("onnxruntime" if is_onnx else "eager")
    if is_onnx and backend != "onnxruntime":
        raise ValueError(f"{model}: an .onnx model runs with --backend onnxruntime, not {backend}")
    if model in MODEL_ZOO and checkpoint is None:
        raise ValueError(f"{model} is a zoo name: pass --checkpoint PATH or --checkpoint official")
    if not is_onnx and not model.endswith((".yaml", ".yml")) and model not in MODEL_ZOO and "{" not in model \
            and not Path(model).exists():
        raise FileNotFoundError(f"model {model} is neither a zoo name nor an existing file")
    segmenter = Segmenter(model, checkpoint, device, data=data)
    workdir = None
    if backend == "compile":
        # Compile the parts in place (as training's `compile: true` does): the segmentor's interface
        # (forward_logits, forward_scores, sliding windows) stays as it is.
        parts = segmenter.model.compile_parts() if hasattr(segmenter.model, "compile_parts") else [segmenter.model]
        for part in parts:
            part.compile(dynamic=None)
    elif backend == "onnxruntime" and not is_onnx:
        from ..deploy.export import export_onnx

        workdir = tempfile.TemporaryDirectory(prefix=f"idrnet_serve_{name}_")
        path = export_onnx(segmenter.model.cpu(), Path(workdir.name) / "model.onnx", data_meta=segmenter.meta.to_json())
        inference, tta, test_scale = segmenter.inference, segmenter.tta, segmenter.test_scale
        segmenter = Segmenter(os.fspath(path), device=device, data=segmenter.meta, test_scale=test_scale or None)
        segmenter.inference, segmenter.tta = inference, tta
    elif backend not in ("eager", "onnxruntime"):
        raise ValueError(f"unknown backend {backend!r}; expected eager, compile or onnxruntime")
    return Arm(name, str(model), segmenter, backend, workdir)
