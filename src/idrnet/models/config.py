"""Typed model configuration."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .heads import HEADS, HeadConfig, IDRNetHeadConfig


@dataclass
class BackboneConfig:
    """``name``: ``resnet{18,34,50,101,152}v1c``, an alias (``swin_large_384``, ``convnext_tiny``,
    ``hrnet_w18``, ``efficientnet_lite0`` …) or any timm model name. ``pretrained``: false, true
    (timm's default tag), a timm tag, or a path/URL to ImageNet weights (ResNet-V1c)."""

    name: str = "resnet50v1c"
    output_stride: int = 8
    pretrained: bool | str = False
    base_width: int = 64  # ResNet-V1c only: stage widths base·(1, 2, 4, 8); reduced for tiny test models
    options: dict[str, Any] = field(default_factory=dict)  # extra timm arguments (embed_dim, depths, drop_path_rate …)


@dataclass
class AuxiliaryConfig:
    """Auxiliary FCN head on the third backbone stage, trained with weight ``weight``."""

    channels: int = 512
    dropout: float = 0.1
    weight: float = 0.4


@dataclass
class InferenceConfig:
    """How a model is evaluated: whole image or sliding window, softmax before resizing or not."""

    mode: Literal["whole", "slide"] = "whole"
    crop_size: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    probs_before_resize: bool = False

    def __post_init__(self) -> None:
        # Built in Python (configs are checked when read), InferenceConfig(mode="slid") ran as whole.
        if self.mode not in ("whole", "slide"):
            from ..errors import InputError

            raise InputError(f"inference mode {self.mode!r}: expected 'whole' or 'slide'")


@dataclass
class ModelConfig:
    """Everything needed to build a segmentor. ``num_classes`` and ``ignore_index`` belong to the data:
    ``idrnet train`` fills them from the dataset (a value written here must agree with it), and a
    model built without data needs ``num_classes`` and uses :data:`~idrnet.data.description.IGNORE_INDEX`."""

    num_classes: int | None = None
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=IDRNetHeadConfig)
    auxiliary: AuxiliaryConfig | None = field(default_factory=AuxiliaryConfig)
    ignore_index: int | None = None
    align_corners: bool = False
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    # false: the same network without IDRNet (its head replaced by the baseline it extends, as
    # ``idrnet train --baseline`` does), so both arms of an A/B come from one file
    idrnet: bool = True


def upgrade_stored_config(data: dict[str, Any]) -> dict[str, Any]:
    """A model config stored by idrnet 0.1 (one head config shared by all heads, with fields a head
    ignored, and IDRNet's ``stage1_loss_weight`` at the top) in today's layout. Today's layout passes
    through unchanged; only stored configs (checkpoints, ONNX files) go through here, never user YAML."""
    data = dict(data)
    weight = data.pop("stage1_loss_weight", None)
    head = data.get("head")
    if isinstance(head, dict):
        head = dict(head)
        kind = head.get("type", "idrnet")
        if kind in HEADS:
            allowed = {f.name for f in fields(HEADS[kind][0])}
            head = {k: v for k, v in head.items() if k in allowed}
            if weight is not None and kind == "idrnet":
                head.setdefault("stage1_loss_weight", weight)
        data["head"] = head
    return data


def _description_ignore(description_json: str, where: str) -> int:
    from ..config import parse_json
    from ..data.description import IGNORE_INDEX

    return int(parse_json(description_json, where).get("ignore_index", IGNORE_INDEX))


def record_for_storage(record: dict[str, Any], description_json: str | None, where: str = "the model") -> dict[str, Any]:
    """A model config's dict as a file stores it beside a data description: the ignore label is the
    description's and is stored there only. A model whose ignore label differs from the description's
    is refused (the file would contradict itself)."""
    if not description_json or "ignore_index" not in record:
        return record
    stored = _description_ignore(description_json, "the data description")
    if record["ignore_index"] is not None and record["ignore_index"] != stored:
        from ..errors import InputError

        raise InputError(f"{where} was trained with ignore label {record['ignore_index']} but the data description "
                         f"given with it has {stored}; pass the description of the data it was trained on")
    return {k: v for k, v in record.items() if k != "ignore_index"}


def record_from_storage(record: dict[str, Any], description_json: str | None, where: str) -> dict[str, Any]:
    """Inverse of :func:`record_for_storage`: a stored config without an ignore label takes its data
    description's (files written before the label was stored once carry it in both places)."""
    if "ignore_index" in record or not description_json:
        return record
    return {**record, "ignore_index": _description_ignore(description_json, where)}
