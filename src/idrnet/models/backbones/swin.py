"""Swin Transformer backbone equal to the reference's (mmseg-style) Swin, built on timm's."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.swin_transformer import SwinTransformerBlock, window_partition, window_reverse

from .timm_backbone import TimmBackbone


class PadThenShiftBlock(SwinTransformerBlock):
    """timm's Swin block with shifted-window attention that pads *before* the cyclic shift, as the
    reference does. timm shifts first and pads afterwards; the two differ whenever the feature map is
    not a multiple of the window (e.g. 640×640 crops with 12×12 windows)."""

    def _attn(self, x: torch.Tensor) -> torch.Tensor:
        _, h, w, c = x.shape
        wh, ww = self.window_size
        x = F.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))
        hp, wp = x.shape[1], x.shape[2]
        shifted = any(self.shift_size)
        if shifted:
            x = torch.roll(x, shifts=(-self.shift_size[0], -self.shift_size[1]), dims=(1, 2))
        mask = self.get_attn_mask(x) if shifted else None
        windows = window_partition(x, self.window_size).view(-1, self.window_area, c)
        windows = self.attn(windows, mask=mask).view(-1, wh, ww, c)
        x = window_reverse(windows, self.window_size, hp, wp)
        if shifted:
            x = torch.roll(x, shifts=self.shift_size, dims=(1, 2))
        return x[:, :h, :w, :].contiguous()


class SwinBackbone(TimmBackbone):
    """timm Swin with the reference's semantics: any input size (padding bottom/right), shifted windows
    in every odd block (even where the map is no larger than a window), pad-then-shift, and a LayerNorm
    on every output stage (``norms``)."""

    def __init__(self, name: str = "swin_large_patch4_window12_384", pretrained: bool | str = False, **kwargs: Any) -> None:
        kwargs.setdefault("drop_path_rate", 0.3)
        super().__init__(
            name, out_indices=(0, 1, 2, 3), pretrained=pretrained,
            strict_img_size=False, always_partition=True, **kwargs,
        )
        for module in self.body.modules():
            if isinstance(module, SwinTransformerBlock):
                # A subclass (not a method bound to the instance), so torch.jit.script compiles it too
                module.__class__ = PadThenShiftBlock
        patch_embed = self.body.patch_embed
        patch_embed.dynamic_img_pad = True
        self.norms = nn.ModuleList(nn.LayerNorm(c) for c in self.channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Four NCHW stages after their output LayerNorms."""
        features = self.body(x)
        return [norm(features[i]).permute(0, 3, 1, 2).contiguous() for i, norm in enumerate(self.norms)]
