"""The process group as the trainer and the evaluator see it (torchrun sets the environment)."""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta

import torch.distributed as dist

# How long a process waits for the others at start-up and in a collective: long enough for ranks that
# arrive minutes apart on a loaded host or a slow shared file system (IDRNET_DIST_TIMEOUT, in seconds).
DEFAULT_TIMEOUT_S = 1800.0


def is_distributed() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def world_info() -> tuple[int, int, int]:
    """(rank, world size, local rank); (0, 1, 0) outside a process group."""
    if is_distributed():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


def dist_timeout() -> timedelta:
    """The start-up and collective timeout (``IDRNET_DIST_TIMEOUT`` seconds, default 30 minutes)."""
    text = os.environ.get("IDRNET_DIST_TIMEOUT", "")
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        from .errors import InputError

        raise InputError(f"IDRNET_DIST_TIMEOUT={text!r}: expected a positive number of seconds")
    return timedelta(seconds=seconds)


def _attempt_store(rank: int, world: int, timeout: timedelta) -> dist.Store:
    """A key-value store of this attempt only, for the process group of a torchrun worker group.

    torchrun (≥ 2.4) gives its workers the rendezvous store, which outlives restarts: after a restart the
    processes would read the previous attempt's addresses (gloo: "connectFullMesh failed … Connection
    refused"; pytorch/pytorch#135712). Rank 0 therefore serves a fresh store and announces it, with a
    random token, in the shared one; the others take the announced store only once it answers with that
    token, so an announcement left by a dead attempt is waited out, not used."""
    import secrets

    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    shared = dist.TCPStore(host, port, world, is_master=False, timeout=timeout)
    key = f"idrnet/process_group_store/{os.environ.get('TORCHELASTIC_RUN_ID', '')}"
    if rank == 0:
        fresh = dist.TCPStore(host, 0, world, is_master=True, timeout=timeout, wait_for_workers=False)
        token = secrets.token_hex(8)
        fresh.set("idrnet/token", token)
        shared.set(key, f"{fresh.port}:{token}")
        return fresh
    deadline = time.monotonic() + timeout.total_seconds()
    while True:
        announced = shared.get(key).decode()  # waits (up to the timeout) for a first announcement
        fresh_port, token = announced.split(":")
        try:
            # a plain connection first: a dead attempt's port refuses at once, without the store's retries
            socket.create_connection((host, int(fresh_port)), timeout=5).close()
            fresh = dist.TCPStore(host, int(fresh_port), world, is_master=False, timeout=timedelta(seconds=10))
            if fresh.get("idrnet/token").decode() == token:
                return fresh
        except (OSError, RuntimeError, dist.DistError):
            pass  # a dead attempt's store: wait for this attempt's rank 0 to announce its own
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank {rank}: rank 0 did not start within {timeout.total_seconds():.0f} s "
                               "(IDRNET_DIST_TIMEOUT)")
        time.sleep(0.5)


def init_distributed(device_kind: str) -> None:
    """Join torchrun's process group (NCCL for CUDA, gloo otherwise) when WORLD_SIZE > 1."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        timeout = dist_timeout()
        try:
            if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
                rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
                store = _attempt_store(rank, world, timeout)
                dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=timeout)
            else:
                dist.init_process_group(backend, timeout=timeout)
        except (RuntimeError, TimeoutError, dist.DistError) as err:
            from .errors import InputError

            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
            raise InputError(f"rank {os.environ.get('RANK', '?')} of {os.environ.get('WORLD_SIZE')} could not join the "
                             f"process group at {where} within {timeout.total_seconds():.0f} s (IDRNET_DIST_TIMEOUT): "
                             f"{first}. Did every node start, and can it reach that address?") from err
