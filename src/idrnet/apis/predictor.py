"""One-call prediction: ``Predictor("idrnet_fcn_resnet50os8_ade20k", checkpoint=True).predict(image)``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..data.description import DataDescription, generic_description
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, Resize
from ..errors import InputError
from ..evaluation.inference import TTAConfig, predict_labels, predict_scores, probability_groups
from ..devices import device_of, parse_device
from ..models.config import InferenceConfig, ModelConfig

ImageInput = str | os.PathLike | bytes | np.ndarray | torch.Tensor | Any  # bytes: an encoded image file; Any: a PIL image


# A resize's overshoot may leave a float image slightly outside [0, 1]: clipped. Beyond this it is
# another scale ([0, 255], or already normalised), and clipping would segment a white or black picture.
_FLOAT_SLACK = 0.05


def _to_uint8(array: np.ndarray, kind: str) -> np.ndarray:
    """uint8 of a float image in [0, 1], a 16-bit one (scaled by its maximum, as 16-bit files are read)
    or an integer one in [0, 255]; any other range is refused rather than clipped."""
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InputError(f"the image {kind} holds NaN or infinite values; expected floats in [0, 1]")
        lo, hi = float(array.min()), float(array.max())
        if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
            if lo < -_FLOAT_SLACK:
                why = "negative values: already normalised? Pass the image before normalisation, the model does it"
            else:
                why = "a picture in [0, 255]: divide by 255 or pass uint8"
            raise InputError(f"the image {kind} holds floats in [{lo:.4g}, {hi:.4g}]; expected [0, 1] ({why})")
        return (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    if array.dtype == np.uint16:
        from ..data.labels import scale_16bit

        return scale_16bit(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    lo, hi = int(array.min()), int(array.max())
    if lo < 0 or hi > 255:
        raise InputError(f"the image {kind} holds integers in [{lo}, {hi}]; expected [0, 255] (uint8), "
                         "or a uint16 picture, or floats in [0, 1]")
    return array.astype(np.uint8)


def to_rgb_array(image: ImageInput) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB from a path, the bytes of an image file, a PIL image, a numpy array or a
    tensor (grayscale → 3 channels, RGBA → alpha dropped; arrays and tensors are CHW or HWC, float in
    [0, 1], integer in [0, 255] or uint16; other ranges are refused, never clipped)."""
    if image is None or (isinstance(image, str) and not image.strip()):
        # Path("") is the current folder, and None failed deep inside NumPy
        raise InputError(f"expected an image (a path, encoded bytes, a PIL image, an array or a tensor), got {image!r}")
    if isinstance(image, (str, os.PathLike)):
        from ..data.labels import read_image

        if isinstance(image, str) and image.lower().startswith(("http://", "https://")):
            raise InputError(f"{image}: a URL; images are not downloaded here: fetch it first (its bytes, e.g. "
                             "urllib.request.urlopen(url).read(), can be passed as they are)")
        if Path(image).is_dir():
            raise InputError(f"{image} is a folder; pass one image (predict_batch takes a list of them, and "
                             "`idrnet predict FOLDER` segments a whole folder)")
        return read_image(Path(image))
    if isinstance(image, (bytes, bytearray, memoryview)):
        from ..data.labels import decode_image

        return decode_image(bytes(image), "the image bytes", other_formats=True)
    kind = "tensor" if isinstance(image, torch.Tensor) else "array"
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL
        if not (image.mode in ("I", "F") or image.mode.startswith("I;16")):
            return np.asarray(image.convert("RGB"))
        # PIL's convert("RGB") clips 16-bit and float pictures to 0..255: a 16-bit photo came out white, a
        # float one in [0, 1] black. Read as their arrays are, as the same picture read from its file is.
        image, kind = np.asarray(image), f"(PIL mode {image.mode})"
        if image.dtype.kind in "iu" and image.size and image.min() >= 0 and 255 < image.max() <= 65535:
            image = image.astype(np.uint16)
    if isinstance(image, (list, tuple)) and image and (
            isinstance(image[0], (str, os.PathLike, bytes, np.ndarray, torch.Tensor)) or hasattr(image[0], "mode")):
        raise InputError(f"a list of {len(image)} images: predict takes one image; use predict_batch for several")
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image.float().numpy() if image.dtype == torch.bfloat16 else image.numpy()
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # CHW
    if array.dtype != np.uint8 and array.size:
        array = _to_uint8(array, kind)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        batch = "; a batch of images: use predict_batch" if array.ndim == 4 else ""
        raise InputError(f"expected an image of shape (H, W), (H, W, 1|3|4) or (1|3|4, H, W); got {array.shape}{batch}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"the image is empty (shape {array.shape})")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[..., :3])


def _checked_test_scale(value: Any) -> tuple[int, int] | None:
    """``test_scale`` as (long, short) or None, refused with what is expected when it is neither."""
    if value is None or value is False:
        return None
    pair = tuple(value) if isinstance(value, (tuple, list)) else None
    if (pair is None or len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair)
            or min(pair) <= 0):
        raise InputError(f"test_scale: expected (long side, short side) as two positive integers, True for the "
                         f"data's own test resize or None for none; got {value!r}")
    return (int(pair[0]), int(pair[1]))


class Predictor:
    """A model ready to segment images.

    ``model``: a zoo name, a ``.safetensors`` file of ours, an ``.onnx`` file from ``idrnet export`` (run
    by ONNX Runtime), a model YAML, a :class:`ModelConfig` or a built :class:`Segmentor`; ``checkpoint``
    as in :func:`idrnet.create_model`. ``data`` overrides the class names/palette/test resize: a
    :class:`~idrnet.data.description.DataDescription` or a custom dataset folder (with dataset.yaml). ``inference`` and ``tta`` override
    the model's inference settings.

    ``device``: where the model runs; by default the CPU, and for a built model the device it is on (a
    model being trained on a GPU is not moved: the Predictor uses that same module).
    ``precision`` (``fp32``, ``bf16``, ``int8``) and ``backend`` (``auto``, ``eager``, ``compile``,
    ``onnxruntime``, ``openvino``) choose how the model runs (see docs/deployment.md); ``auto`` is the
    fastest measured path for the precision on a CPU (fp32: compiled, falling back to eager when
    compilation fails) and eager on a GPU; the environment variable ``IDRNET_BACKEND`` overrides it.
    The default (None) is eager for fp32 and bf16 — compiling costs seconds and pays only over many
    images (pass ``backend="auto"`` for those, as ``idrnet predict`` and ``idrnet serve`` do) — and
    ``auto`` for int8, which eager cannot run, or when ``IDRNET_BACKEND`` is set.
    int8 is calibrated on ``calibration_images`` images drawn (with ``seed``) from ``calibration``: a
    folder of images, a custom dataset folder or a training YAML, or a list of preprocessed tensors.
    """

    def __init__(
        self,
        model: str | os.PathLike | ModelConfig | torch.nn.Module,
        checkpoint: str | os.PathLike | bool | None = None,
        device: str | torch.device | None = None,
        data: DataDescription | str | os.PathLike | None = None,
        inference: InferenceConfig | dict | None = None,
        tta: TTAConfig | dict | None = None,
        test_scale: tuple[int, int] | None | bool = True,
        precision: str = "fp32",
        backend: str | None = None,
        calibration: str | os.PathLike | Sequence[torch.Tensor] | None = None,
        calibration_images: int = 32,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        from .load import description_from_data, load

        explicit_scale = None if test_scale is True else _checked_test_scale(test_scale)  # before the model loads
        # a built model stays where it is (moving it would move the caller's model too)
        self.device = parse_device(device_of(model) if device is None else device)
        loaded = load(model, checkpoint, self.device)
        self.model = loaded.model
        meta = data if isinstance(data, DataDescription) else description_from_data(data) if data is not None else loaded.description
        self.description = meta or generic_description(self.model.num_classes)
        if len(self.description.classes) != self.model.num_classes:
            raise InputError(f"the data description has {len(self.description.classes)} classes, the model {self.model.num_classes}")
        # test_scale: True = the data description's resize, None/False = none, or an explicit (long, short)
        self.test_scale = self.description.test_scale if test_scale is True else explicit_scale
        if isinstance(inference, dict) or isinstance(tta, dict):  # as a config's inference section is written
            from ..config import from_dict

            inference = from_dict(InferenceConfig, inference, where="inference") if isinstance(inference, dict) else inference
            tta = from_dict(TTAConfig, tta, where="tta") if isinstance(tta, dict) else tta
        self.inference = inference or self.model.config.inference
        self.tta = tta
        # the PyTorch module itself (None for an .onnx file), for what needs its layers (relations)
        self.network: torch.nn.Module | None = self.model if isinstance(self.model, torch.nn.Module) else None
        self.model = self._accelerate(precision, backend, calibration, calibration_images, threads, seed)

    def _accelerate(self, precision: str, backend: str | None, calibration: Any, count: int,
                    threads: int | None, seed: int) -> Any:
        from .calibration import calibration_files
        from ..deploy.calibration import calibration_batches
        from ..deploy.graph_model import GraphSegmentor
        from ..deploy.runtime import accelerate

        if backend is None:
            backend = "auto" if precision == "int8" or os.environ.get("IDRNET_BACKEND") else "eager"
        batches = None
        if precision == "int8" and not isinstance(self.model, GraphSegmentor):
            if calibration is None:
                raise InputError("precision int8 needs calibration images: a folder of images like the ones you will "
                                 "segment, a custom dataset folder or a training YAML (calibration=…)")
            if isinstance(calibration, (str, os.PathLike)):
                batches = calibration_batches(calibration_files(calibration, count, seed), self.preprocess)
            else:
                batches = [torch.as_tensor(b) for b in calibration]
        return accelerate(self.model, precision, backend, batches, self.device, threads, self.description.to_json(), seed)

    @property
    def precision(self) -> str:
        """What runs: ``fp32``, ``bf16`` or ``int8``."""
        return getattr(self.model, "precision", "fp32")

    @property
    def backend(self) -> str:
        """How it runs: ``eager``, ``compile``, ``onnxruntime`` or ``openvino``."""
        return getattr(self.model, "backend", "eager")

    @property
    def meta(self) -> DataDescription:
        """Deprecated (idrnet 0.1) name of :attr:`description`; removed in 0.3."""
        import warnings

        warnings.warn("Predictor.meta (Segmenter.meta in idrnet 0.1) is deprecated: use .description", DeprecationWarning, stacklevel=2)
        return self.description

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's class names."""
        return self.description.classes

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """RGB uint8 → the normalised, test-resized ``(1, 3, h, w)`` tensor the model sees."""
        if self.test_scale is not None:
            image = Resize(self.test_scale, self.description.keep_ratio)({"image": image}, np.random.default_rng(0))["image"]
        x = (image.astype(np.float32) - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
        return torch.from_numpy(x.transpose(2, 0, 1).copy()).unsqueeze(0).to(self.device)

    @torch.no_grad()
    def _scores(self, image: ImageInput) -> torch.Tensor:
        """Scores ``(1, K, H, W)`` at the input's size with the inference and TTA settings."""
        rgb = to_rgb_array(image)
        return predict_scores(self.model, self.preprocess(rgb), self.inference, rgb.shape[:2], self.tta, self.description.flip_pairs)

    def predict_proba(self, image: ImageInput) -> np.ndarray:
        """Class probabilities ``(K, H, W)`` float32 at the input's size (numpy, like :meth:`predict`)."""
        scores = self._scores(image)
        if not self.inference.probs_before_resize:
            scores = scores.softmax(dim=1)
        return scores[0].float().cpu().numpy()

    @torch.no_grad()
    def proba_groups(self, image: ImageInput) -> Iterator[tuple[int, np.ndarray]]:
        """:meth:`predict_proba` a group of classes at a time, as ``(first class, (k, H, W) float32)`` in
        class order: a photo's 150 probabilities need not be held at once (7.2 GB at 12 megapixels). Every
        class comes in one group when they fit in 256 MiB, and then equals :meth:`predict_proba`."""
        rgb = to_rgb_array(image)
        for first, group in probability_groups(self.model, self.preprocess(rgb), self.inference, rgb.shape[:2],
                                               self.tta, self.description.flip_pairs):
            yield first, group[0].float().cpu().numpy()

    def predict(self, image: ImageInput) -> np.ndarray:
        """Label map ``(H, W)`` (uint8 for ≤ 256 classes, else int32) at the input's size."""
        return self.predict_batch([image])[0]

    @torch.no_grad()
    def predict_batch(
        self, images: Sequence[ImageInput], return_confidence: bool = False
    ) -> list[np.ndarray] | tuple[list[np.ndarray], list[np.ndarray]]:
        """Label maps of several images, those of one size run as one batch (as :meth:`predict` would
        label each, up to the float noise of a larger batch). ``return_confidence`` adds each pixel's
        top class probability ``(H, W)`` float32."""
        if isinstance(images, (str, os.PathLike, bytes, bytearray)):  # iterated, a path became its letters
            kind = "a folder" if isinstance(images, (str, os.PathLike)) and Path(images).is_dir() else "one image"
            raise InputError(f"predict_batch takes a list of images; got {kind} ({str(images)[:80]!r}): pass "
                             + ("a list of its files (sorted(Path(folder).glob('*.jpg')), say), or run "
                                "`idrnet predict FOLDER`" if kind == "a folder" else "[image], or use predict"))
        rgbs = [to_rgb_array(image) for image in images]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, rgb in enumerate(rgbs):
            groups.setdefault(rgb.shape, []).append(i)
        dtype = np.uint8 if self.model.num_classes <= 256 else np.int32
        labels: list[np.ndarray] = [np.empty(0)] * len(rgbs)
        confidence: list[np.ndarray] = [np.empty(0)] * len(rgbs)
        for shape, members in groups.items():
            batch = torch.cat([self.preprocess(rgbs[i]) for i in members])
            found = predict_labels(self.model, batch, self.inference, shape[:2], self.tta, self.description.flip_pairs,
                                   return_confidence=return_confidence)
            best, top = found if return_confidence else (found, None)
            for n, i in enumerate(members):
                labels[i] = best[n].cpu().numpy().astype(dtype)
                if top is not None:
                    confidence[i] = top[n].float().cpu().numpy()
        return (labels, confidence) if return_confidence else labels

    def overlay(self, image: ImageInput, labels: np.ndarray | None = None, alpha: float = 0.5) -> np.ndarray:
        """RGB picture of the prediction blended over the image with the dataset palette (``alpha``: the
        prediction's opacity, 0 to 1)."""
        from ..visualization import overlay

        if not 0 <= alpha <= 1:
            raise InputError(f"alpha={alpha}: expected an opacity between 0 and 1")

        rgb = to_rgb_array(image)
        labels = self.predict(rgb) if labels is None else labels
        return overlay(rgb, labels, self.description.palette, alpha, self.description.ignore_index)


def __getattr__(name: str) -> Any:
    if name == "Segmenter":  # the name of idrnet 0.1, too close to the Segmentor module; removed in 0.3
        import warnings

        warnings.warn("idrnet.Segmenter is now idrnet.Predictor", DeprecationWarning, stacklevel=2)
        return Predictor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
