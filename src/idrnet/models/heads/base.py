"""What every decode head provides: logits in eval mode, named training outputs, a statistics hook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import torch
import torch.nn as nn


@dataclass
class AuxiliaryLogits:
    """Extra logits a head supervises during training, and the weight of their loss."""

    logits: torch.Tensor
    weight: float


@dataclass
class HeadOutputs:
    """One training forward of a head: the final logits, named auxiliary logits (e.g. IDRNet's
    ``stage1``) and whatever the head's :meth:`DecodeHead.update_statistics` needs afterwards."""

    logits: torch.Tensor
    auxiliary: dict[str, AuxiliaryLogits] = field(default_factory=dict)
    state: Any = None


class DecodeHead(nn.Module):
    """Base of the decode heads: ``forward(features)`` returns logits at the head's resolution.

    A head with more to supervise overrides :meth:`forward_train`; one that keeps running statistics
    learned from the labels (IDRNet's relations) overrides :meth:`update_statistics`, which the loss
    calls once per training forward, after it. ``replays_random_state`` marks heads whose training
    replays a saved RNG state (they stay eager when training is compiled).
    """

    replays_random_state: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config: Any, in_channels: Sequence[int], num_classes: int, align_corners: bool) -> "DecodeHead":
        """Build from the head's typed config: each field but ``type`` is the keyword argument of the same
        name (so a field is declared in the config and taken by ``__init__``, nowhere else), and
        ``align_corners`` comes from the model when ``__init__`` takes it."""
        import dataclasses
        import inspect

        options = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "type"}
        if "align_corners" in inspect.signature(cls.__init__).parameters:
            options["align_corners"] = align_corners
        return cls(in_channels, num_classes, **options)

    def forward_train(self, features: Sequence[torch.Tensor]) -> HeadOutputs:
        """Everything a training step supervises (default: the logits alone)."""
        return HeadOutputs(self(features))

    def update_statistics(
        self,
        state: Any,
        targets: torch.Tensor,
        ignore_index: int,
        main_pixel_losses: tuple[torch.Tensor, torch.Tensor] | None = None,
        **options: Any,
    ) -> None:
        """Update label-driven running statistics after a training forward (default: none).

        ``main_pixel_losses``: the main logits and their per-pixel cross-entropy ``(B, H, W)`` when the
        loss already computed it, for a head whose statistics need those values.
        """
        return None
