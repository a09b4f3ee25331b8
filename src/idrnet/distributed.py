"""The process group as the trainer and the evaluator see it (torchrun sets the environment)."""

from __future__ import annotations

import os

import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def world_info() -> tuple[int, int, int]:
    """(rank, world size, local rank); (0, 1, 0) outside a process group."""
    if is_distributed():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


def init_distributed(device_kind: str) -> None:
    """Join torchrun's process group (NCCL for CUDA, gloo otherwise) when WORLD_SIZE > 1."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
