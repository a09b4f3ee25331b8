"""Any timm model as a segmentation backbone, through ``features_only``."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Sequence

import timm
import torch
import torch.nn as nn


class TimmBackbone(nn.Module):
    """Wraps ``timm.create_model(name, features_only=True)``; returns NCHW stages, fine to coarse.

    ``out_indices`` picks the stages (timm's numbering); ``output_stride`` dilates the last stages of
    models that support it (ResNets, ConvNeXt, EfficientNets). ``pretrained``: ``False``, ``True``
    (timm's default tag), a tag (``"ms_in22k"``) or a local weights file (see :func:`timm_weights`).
    """

    def __init__(
        self,
        name: str,
        out_indices: Sequence[int] | None = None,
        output_stride: int | None = None,
        pretrained: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        model_name, file = timm_weights(name, pretrained)
        options: dict[str, Any] = dict(features_only=True, pretrained=bool(pretrained), **kwargs)
        if file is not None:
            options["pretrained_cfg_overlay"] = {"file": file}
        if out_indices is not None:
            options["out_indices"] = tuple(out_indices)
        if output_stride is not None and output_stride != 32:
            options["output_stride"] = output_stride
        try:
            self.body = timm.create_model(model_name, **options)
        except pickle.UnpicklingError as err:  # timm reads local files weights-only, with torch's advice
            from ..checkpoint import CheckpointError, refused_pickle_message

            raise CheckpointError(refused_pickle_message(file or model_name)) from err
        info = self.body.feature_info
        # Without explicit indices, keep the last four stages (what every head here expects).
        self._first = 0 if out_indices is not None else max(0, len(info.channels()) - 4)
        self.channels: list[int] = list(info.channels())[self._first :]
        self.reductions: list[int] = list(info.reduction())[self._first :]
        # Transformers such as Swin give channels-last maps; remember to permute them.
        self._nhwc = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")
        # Models that add upsampled branches (HRNet) need sizes divisible by their coarsest stride;
        # the segmentor pads inputs to a multiple of this (1 = any size works as it is).
        self.size_divisor: int = max(self.reductions) if name.startswith("hrnet") else 1

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps, one per selected stage, ``(B, C_i, H/r_i, W/r_i)``."""
        features = self.body(x)[self._first :]
        if self._nhwc:
            features = [f.permute(0, 3, 1, 2).contiguous() for f in features]
        return list(features)


def timm_weights(name: str, pretrained: bool | str) -> tuple[str, str | None]:
    """timm model name (with tag) and local weights file for a ``pretrained`` setting.

    A string naming an existing file (or ending in ``.pth``, ``.pt``, ``.bin``, ``.safetensors``) is a
    local file, loaded by timm (``weights_only``) through the model's own checkpoint converter, so
    original-format files such as Microsoft's ``swin_large_patch4_window12_384_22k.pth`` work offline;
    any other string is a timm pretrained tag.
    """
    if isinstance(pretrained, bool):
        return name, None
    path = Path(pretrained).expanduser()
    if path.is_file():
        return name, str(path)
    if pretrained.endswith((".pth", ".pt", ".bin", ".safetensors")):
        raise FileNotFoundError(f"pretrained backbone weights {pretrained} do not exist")
    return f"{name}.{pretrained}", None
