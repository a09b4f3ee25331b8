"""The head seam: one dict of heads, no IDRNet special cases, a new head needs no other change."""

from __future__ import annotations

import torch
from runs import ROOT


def test_the_head_seam_has_one_dict_and_no_idrnet_special_cases():
    from idrnet.models.heads import HEADS

    assert set(HEADS) == {"idrnet", "fcn", "pspnet", "deeplabv3", "upernet", "ocrnet"}
    for module in ("models/segmentor.py", "engine/losses.py", "engine/trainer.py", "models/build.py"):
        text = (ROOT / "src" / "idrnet" / module).read_text()
        assert "IDRNetHead" not in text and "is_idrnet" not in text and "head.type" not in text, module


def test_a_new_head_with_auxiliary_outputs_and_statistics_needs_no_other_change():
    """A head written against the protocol trains through the unchanged segmentor and losses."""
    import torch.nn as nn
    from tiny import tiny_config

    from idrnet import build_model
    from idrnet.engine.losses import training_losses
    from idrnet.models.heads import AuxiliaryLogits, DecodeHead, HeadOutputs

    class TwoStageHead(DecodeHead):
        def __init__(self, channels, k):
            super().__init__()
            self.first, self.second = nn.Conv2d(channels, k, 1), nn.Conv2d(channels, k, 1)
            self.updates = 0

        def forward(self, features):
            return self.second(features[-1])

        def forward_train(self, features):
            return HeadOutputs(self(features), {"first": AuxiliaryLogits(self.first(features[-1]), 0.25)}, "state")

        def update_statistics(self, state, targets, ignore_index, **options):
            assert state == "state" and ignore_index == 7
            self.updates += 1

    model = build_model(tiny_config("fcn"))
    model.decode_head = TwoStageHead(model.backbone.channels[-1], 5)
    model.train()
    targets = torch.randint(0, 5, (2, 32, 32))
    losses = training_losses(model, torch.randn(2, 3, 32, 32), targets, ignore_index=7)
    assert list(losses) == ["aux", "first", "main", "total"] and model.decode_head.updates == 1
    assert torch.allclose(losses["total"], losses["aux"] + losses["first"] + losses["main"])
