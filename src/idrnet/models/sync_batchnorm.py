"""Cross-process BatchNorm that works with gloo on the CPU (torch's SyncBatchNorm needs CUDA under DDP)."""

from __future__ import annotations

import torch
import torch.distributed.nn.functional as dist_fn
import torch.nn as nn

from ..distributed import is_distributed


class CrossProcessBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose training statistics are those of the whole batch across all processes.

    Sums and squared sums are all-reduced with autograd support, so gradients match a single process
    holding the whole batch. Outside training or without a process group it is plain BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        dims = (0, 2, 3)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        stats = dist_fn.all_reduce(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c:2 * c] / n - mean * mean
        with torch.no_grad():
            if self.track_running_stats:
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
        shape = (1, c, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_to_cross_process_bn(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in ``module`` by :class:`CrossProcessBatchNorm2d` (same state)."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, CrossProcessBatchNorm2d):
        new = CrossProcessBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        new.load_state_dict(module.state_dict())
        return new
    for name, child in module.named_children():
        setattr(module, name, convert_to_cross_process_bn(child))
    return module
