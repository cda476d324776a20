"""Page drawers that fail as hostile pages make pdfium fail, for ``ingest.pages.PageRenderer``.

Its worker imports them by name, so they live in a module that imports nothing heavy.
"""

from __future__ import annotations

import os
import time


def slow_draw(data: bytes, number: int, width: int, password: str | None) -> bytes:
    """A page that takes minutes (a pattern of a billion cells)."""
    time.sleep(60)
    return b""


def crashing_draw(data: bytes, number: int, width: int, password: str | None) -> bytes:
    """A page that crashes the renderer, as pdfium aborts on some broken files."""
    os.abort()


def greedy_draw(data: bytes, number: int, width: int, password: str | None) -> bytes:
    """A page that needs more memory than the worker may have (a decompression bomb)."""
    return bytes(8 * 2**30)
