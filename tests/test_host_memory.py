"""keep_freed_memory: freed large blocks are reused without page faults (glibc)."""

import subprocess
import sys

import pytest

PROBE = """
import resource, sys, torch
from idrnet.engine.host_memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
for step in range(12):  # glibc settles on a reusable layout after a few rounds
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(64 * 2**20 // 4)  # 64 MiB, above glibc's largest mmap threshold
    x.fill_(1.0)
    del x
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(applied, faults)
"""


def _last_step_faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator setting")
def test_freed_memory_is_reused_without_page_faults():
    applied, kept = _last_step_faults("keep")
    _, released = _last_step_faults("release")
    assert applied == "True"
    assert released > 10_000  # 64 MiB of 4 KiB pages faulted in again every time (fewer with huge pages)
    assert kept < 100
