"""Free memory goes back to the system when asked (core/memory.py)."""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path

import pytest

from core.memory import _libc, release_free_memory

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or _libc() is None, reason="malloc_trim is glibc's"
)


def resident_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@glibc_only
def test_freed_pages_below_a_live_block_go_back_to_the_system() -> None:
    """What a question leaves: many small blocks freed, one still live above them, so glibc
    cannot shrink the heap by itself and the freed pages stay resident until trimmed."""
    libc = _libc()
    assert libc is not None
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(16 * 1024) for _ in range(4096)]  # 64 MiB, below mmap's threshold
    for block in blocks:
        ctypes.memset(block, 1, 16 * 1024)  # resident
    pinned = libc.malloc(64)  # above them on the heap
    try:
        for block in blocks:
            libc.free(block)
        before = resident_mib()
        assert release_free_memory()
        assert resident_mib() < before - 32, "malloc_trim gave back less than half of 64 MiB"
    finally:
        libc.free(pinned)
