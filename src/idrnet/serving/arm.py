"""One served model ("arm" A or B of an A/B test): loading, warm-up, and a batch of predictions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np


@dataclass
class Arm:
    """A loaded model ready to label batches of same-size RGB images.

    ``name``: ``"A"`` or ``"B"``; ``source``: what the user named (zoo name, file); ``predictor``: an
    :class:`idrnet.Predictor`; ``backend``: how it runs.
    """

    name: str
    source: str
    predictor: Any
    backend: str
    public_name: str = ""  # what public answers call the model (the source itself with --expose-paths)

    @property
    def num_classes(self) -> int:
        """The model's number of classes."""
        return int(self.predictor.model.num_classes)

    @property
    def ignore_index(self) -> int:
        """The label value ground-truth feedback uses for unlabelled pixels."""
        return int(self.predictor.description.ignore_index)

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this arm."""
        meta = self.predictor.description
        inference = self.predictor.inference
        return {
            "model": self.public_name or self.source,
            "backend": self.predictor.backend,
            "precision": self.predictor.precision,
            "num_classes": self.num_classes,
            "classes": list(meta.classes),
            "palette": [list(c) for c in meta.palette],
            "ignore_index": meta.ignore_index,
            "input": {
                "test_resize": list(self.predictor.test_scale) if self.predictor.test_scale else None,
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
            labels, top = self.predictor.predict_batch(images, return_confidence=True)
            return labels, top
        return self.predictor.predict_batch(images), None

    def warm_up(self, size: tuple[int, int] = (256, 256)) -> float:
        """One prediction of a blank image (compiles and allocates); returns its seconds."""
        start = time.perf_counter()
        self.predict([np.zeros((*size, 3), dtype=np.uint8)], confidence=True)
        return time.perf_counter() - start


def public_names(sources: Sequence[str]) -> list[str]:
    """Names of models for public answers, without the server's folders: a file's name, with as many of
    its parent folders as it takes to tell the models apart (``a/final.safetensors``,
    ``b/final.safetensors``); zoo names and config lines as they are."""
    parts = [Path(s).parts if ("/" in s or "\\" in s) and not s.lstrip().startswith("{") else (s,) for s in sources]
    names = []
    for own in parts:
        others = [p for p in parts if p != own]
        depth = 1
        while depth < len(own) and any(tuple(p[-depth:]) == tuple(own[-depth:]) for p in others):
            depth += 1
        tail = [part for part in own[-depth:] if part not in ("/", "\\")] or [own[-1]]
        names.append("/".join(tail))
    return names


def load_arm(
    name: str,
    model: str,
    checkpoint: str | bool | None = None,
    data: str | None = None,
    backend: str | None = None,
    device: Any = "cpu",
    precision: str = "fp32",
    calibration: str | None = None,
    calibration_images: int = 32,
    test_scale: bool = True,
    threads: int | None = None,
) -> Arm:
    """Load ``model`` (anything ``idrnet predict`` accepts: zoo name with ``checkpoint``, ``.safetensors``,
    model YAML, config line, ``.onnx``) for ``precision`` on ``backend`` (default: the fastest measured
    path, see :func:`idrnet.deploy.runtime.resolve_backend`; ONNX Runtime for ``.onnx``)."""
    from ..apis.load import check_model_source, check_weights_given
    from ..apis.predictor import Predictor

    check_model_source(model)
    check_weights_given(model, checkpoint)
    predictor = Predictor(model, checkpoint, device, data=data, test_scale=True if test_scale else None,
                          precision=precision, backend=backend, calibration=calibration,
                          calibration_images=calibration_images, threads=threads)
    return Arm(name, str(model), predictor, predictor.backend)
