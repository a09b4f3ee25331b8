"""DistributedDataParallel for idrnet's training forward, in our trainer or in a user's own loop."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn


class TrainForward(nn.Module):
    """``forward`` = the model's ``forward_train``, so DDP wraps (and synchronises) the training forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> Any:
        return self.model.forward_train(images)


class DDPModel:
    """The model as :func:`idrnet.training_losses` sees it, with its training forward run through DDP
    (gradients all-reduced); everything else — ``parameters()``, ``decode_head``, ``eval()``, calling
    it — goes to the model itself. IDRNet's statistics are averaged across processes by its head."""

    def __init__(self, ddp: nn.Module, model: nn.Module) -> None:
        self._ddp, self._model = ddp, model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._model(*args, **kwargs)

    def forward_train(self, images: torch.Tensor) -> Any:
        """The training forward through DDP."""
        return self._ddp(images)

    def no_sync(self) -> Any:
        """DDP's ``no_sync`` (gradient accumulation without all-reducing every micro-batch)."""
        return self._ddp.no_sync()


def wrap_ddp(model: nn.Module, **ddp_options: Any) -> DDPModel:
    """``model`` (ours, or one with IDRNet attached) ready for ``idrnet.training_losses`` under torchrun:
    ``model = idrnet.wrap_ddp(model, device_ids=[local_rank])`` inside an initialised process group
    (``ddp_options`` go to ``DistributedDataParallel``)."""
    return DDPModel(torch.nn.parallel.DistributedDataParallel(TrainForward(model), **ddp_options), model)
