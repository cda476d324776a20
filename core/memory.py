"""Memory that stays flat over a day of questions: few malloc arenas in every kbqa process.

glibc gives each thread that allocates at the same time as another an arena of its own, up to
eight per core, and memory freed in one is reused only by allocations that land there. kbqa's
API answers in a pool of threads, each embedding and reranking tensors of another size, so
its arenas filled with free gaps no other thread could use: the API process grew about 6.5 MB a
question for as long as it ran (``kbqa bench soak``: 1,285 to 1,610 MiB from question 10 to
60). With two arenas the same run held at 1,138 to 1,221 MiB, with no slower answers.

``MALLOC_ARENA_MAX`` is read by glibc when a process starts, so it is set for the processes kbqa
starts (the parser's workers, the chat model's server), and ``mallopt`` applies it to the process
that is already running. A value set beforehand is kept. Elsewhere than glibc nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas() -> None:
    """At most ``MALLOC_ARENA_MAX`` (default :data:`ARENAS`) arenas here and in children."""
    arenas = os.environ.setdefault("MALLOC_ARENA_MAX", str(ARENAS))
    with contextlib.suppress(OSError, AttributeError, ValueError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, int(arenas))
