"""Naming the device a model runs on, with one error for a device this machine does not have."""

from __future__ import annotations

import os

import torch

from .errors import InputError


def parse_device(name: str | torch.device, what: str = "device") -> torch.device:
    """The torch device for ``name`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``: CUDA when available);
    :class:`~idrnet.errors.InputError` naming ``what`` for a malformed name or a CUDA device this machine
    lacks (PyTorch's own message speaks of drivers)."""
    if isinstance(name, str) and name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"{what} {name}: expected cpu, cuda, cuda:N or auto") from None
    if device.type == "mps":  # Apple GPUs: not tested here, left to PyTorch where it is available
        if not torch.backends.mps.is_available():
            raise InputError(f"{what} {name}: MPS (Apple GPUs) is not available on this machine (use cpu)")
        return device
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"{what} {name}: expected cpu, cuda, cuda:N or auto")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{what} {name}: CUDA is not available on this machine (use cpu)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise InputError(f"{what} {name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return device


def device_of(model: object, default: str = "cpu") -> torch.device | str:
    """The device a built model's weights are on (``default`` for anything else, or a module without
    weights): where an API given that module runs it, instead of moving the caller's module."""
    if isinstance(model, torch.nn.Module):
        return next((t.device for t in (*model.parameters(), *model.buffers())), default)
    return default


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity: a container's or a scheduler's share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
