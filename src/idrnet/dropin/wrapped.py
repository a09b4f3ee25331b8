"""Another library's segmentation model behind the interface the idrnet tools use."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InputError
from ..models.heads import AuxiliaryLogits, DecodeHead
from ..models.segmentor import TrainOutputs, pad_to_multiple
from ..models.model_folder import HubMethods


class _NoHead(DecodeHead):
    """The decode head of a model without IDRNet: no statistics to update."""

    def forward(self, features: Any) -> torch.Tensor:  # pragma: no cover - never called
        raise RuntimeError("a wrapped model has no separate decode head")


def _pad_to_fixed_size(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = images.shape[2:]
    if h > size[0] or w > size[1]:
        raise InputError(f"this model's encoder takes {size[0]}×{size[1]} inputs only (a fixed-size ViT), not "
                         f"{h}×{w}: use slide inference with that crop, or build the model with "
                         "dynamic_img_size=True")
    return F.pad(images, (0, size[1] - w, 0, size[0] - h))


class WrappedModel(nn.Module, HubMethods):
    """A model of another library (SMP, torchvision, one's own) as the idrnet tools see it:
    ``forward`` = the model's own forward; ``forward_scores`` = logits ``(B, K, H, W)`` at the input's
    size; ``forward_train`` = the logits a training step supervises (with torchvision's ``aux``).
    Without IDRNet (``idrnet: false`` in a config line), it is the baseline of an attached model.
    """

    external: Any = None  # the config line that built it (see idrnet.dropin.external), if any

    def __init__(self, model: nn.Module, config: Any) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.num_classes = config.num_classes
        self.ignore_index = config.ignore_index
        self.align_corners = config.align_corners
        self._no_head = _NoHead()

    def prepare_to_save(self) -> None:
        """A model IDRNet was attached to by hand carries no config line: read it back from the SMP
        model's own record of its arguments (an error names what a config line cannot hold)."""
        if self.external is None:
            from .external import config_line_of

            self.external = config_line_of(self)

    @classmethod
    def of(cls, model: nn.Module, num_classes: int, **options: Any) -> "WrappedModel":
        """Wrap ``model`` without changing it (options: fields of :class:`~idrnet.dropin.AttachConfig`)."""
        from ..config import from_dict
        from .attach import _family_defaults, AttachConfig

        family = {k: v for k, v in _family_defaults(model).items() if k != "classifier"}
        config = from_dict(AttachConfig, {**family, **options, "num_classes": num_classes}, where="wrap")
        return cls(model, config)

    @property
    def decode_head(self) -> DecodeHead:
        """No IDRNet head: a head whose statistics hook does nothing."""
        return self._no_head

    @property
    def size_divisor(self) -> int:
        """Inputs are zero-padded to a multiple of this inside ``forward_scores``."""
        return self.config.size_divisor

    def compile_parts(self) -> list[nn.Module]:
        """The modules ``compile: true`` compiles in place."""
        return [self.model]

    def forward(self, images: torch.Tensor) -> Any:
        """The original model's output."""
        return self.model(images)

    @staticmethod
    def _main(output: Any) -> torch.Tensor:
        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, dict) and "out" in output:
            return output["out"]
        if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor) and output[0].dim() == 4:
            return output[0]  # SMP with aux_params: (masks, labels); the labels are the model's own business
        raise TypeError(f"cannot find the logits in the model's output of type {type(output).__name__}")

    def _outputs(self, output: Any) -> TrainOutputs:
        auxiliary: dict[str, AuxiliaryLogits] = {}
        if isinstance(output, dict) and output.get("aux") is not None:
            auxiliary["aux"] = AuxiliaryLogits(output["aux"], self.config.aux_weight)
        return TrainOutputs(self._main(output), auxiliary, None)

    def forward_scores(self, images: torch.Tensor, probs_before_resize: bool = False) -> torch.Tensor:
        """Logits (or probabilities) ``(B, K, H, W)`` at the input's size, padding inside when needed."""
        h, w = images.shape[2:]
        padded = pad_to_multiple(images, self.size_divisor)
        fixed = getattr(self.config, "input_size", None)
        if fixed is not None:
            padded = _pad_to_fixed_size(images, tuple(fixed))
        scores = self._main(self(padded))
        if scores.shape[2:] != padded.shape[2:]:
            scores = F.interpolate(scores, size=padded.shape[2:], mode="bilinear", align_corners=self.align_corners)
        scores = scores[:, :, :h, :w]
        return scores.softmax(dim=1) if probs_before_resize else scores

    def forward_train(self, images: torch.Tensor) -> TrainOutputs:
        """The model's logits (main) and its own auxiliary output, if any."""
        return self._outputs(self(images))
