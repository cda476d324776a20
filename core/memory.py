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

Even in two arenas, free memory stays resident: glibc returns the top of a heap to the system
only past a threshold, and never the free pages below a block still in use. A question's
tensors (tokens, embeddings, MaxSim's matrices) are freed between questions, but the pages they
freed stayed in the process, a few MB a question. :func:`release_free_memory` asks glibc to give
them back (``malloc_trim``), once a question: a walk of the free lists, 1.6 ms (median of 20,
after MiniLM embedded 64 passages, on a busy 2-core machine) against answers of seconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, or None where the C library is another (musl, macOS) or cannot be loaded."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def limit_malloc_arenas() -> None:
    """At most ``MALLOC_ARENA_MAX`` (default :data:`ARENAS`) arenas here and in children."""
    arenas = os.environ.setdefault("MALLOC_ARENA_MAX", str(ARENAS))
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(ValueError):  # MALLOC_ARENA_MAX set to a non-number
            libc.mallopt(_M_ARENA_MAX, int(arenas))


def release_free_memory() -> bool:
    """Give the free pages of every malloc arena back to the system (glibc's ``malloc_trim``).

    Returns whether any memory was released; False where the C library is not glibc."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
