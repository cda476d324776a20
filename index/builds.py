"""Rebuilding a collection's FAISS index in the background: read aside, swap in milliseconds.

A rebuild reads the collection from one SQLite read transaction (a snapshot: later commits are
invisible to it), trains and fills a new index outside every lock, then, holding the write
lock and the readers' lock exclusively, replays onto it the changes journaled since the
snapshot and swaps it in. The snapshot and the journal start together, under the write lock,
so no change is missed or applied twice.

What it costs: k-means on ``TRAIN_POINTS_PER_LIST`` x nlist sampled vectors, then one pass
over every vector (read from SQLite, assigned to its list). Both cores are busy meanwhile;
searches go on against the old index.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from index.vectors import TRAIN_POINTS_PER_LIST, FaissVectors, build_faiss_index, ivf_lists

if TYPE_CHECKING:
    import sqlite3

    import faiss

    from index.locks import SharedLock
    from index.store import Store

log = logging.getLogger(__name__)
BATCH = 20_000  # vectors read from SQLite at a time (30 MB at 384-d)


class Cancelled(Exception):
    pass


def fill(
    dim: int,
    size: int,
    kind: str,
    codec: str,
    sample: Callable[[int], np.ndarray],
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    stop: threading.Event,
) -> tuple[faiss.Index, int]:
    """A new index of ``kind`` holding every vector of ``batches``; (index, trained_at)."""
    if kind == "exact":
        index, trained_at = build_faiss_index(dim), 0
    else:
        nlist = ivf_lists(size)
        index = build_faiss_index(dim, sample(nlist * TRAIN_POINTS_PER_LIST), nlist, codec)
        trained_at = size
    for ids, vectors in batches:
        if stop.is_set():
            raise Cancelled
        index.add_with_ids(vectors, ids)
    return index, trained_at


class Rebuilds:
    """At most one background rebuild per collection; :meth:`stop` cancels them all."""

    def __init__(
        self,
        store: Store,
        write_lock: threading.Lock,
        readers: SharedLock,
        saved: Callable[[str, FaissVectors], None],
    ) -> None:
        self._store = store
        self._write_lock = write_lock
        self._readers = readers
        self._saved = saved  # writes a swapped-in index to disk (called under the write lock)
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()

    def start_if_wanted(self, name: str, vectors: FaissVectors) -> bool:
        """Start rebuilding if the index needs it (call under the write lock)."""
        kind = vectors.wanted()
        running = self._threads.get(name)
        if kind is None or (running is not None and running.is_alive()) or self._stop.is_set():
            return False
        snapshot = self._store.snapshot()  # pinned now, with the journal: nothing in between
        vectors.begin_rebuild()
        thread = threading.Thread(
            target=self._run,
            args=(name, vectors, kind, snapshot),
            name=f"kbqa-rebuild-{name}",
            daemon=True,
        )
        self._threads[name] = thread
        thread.start()
        return True

    def _run(
        self, name: str, vectors: FaissVectors, kind: str, snapshot: sqlite3.Connection
    ) -> None:
        started = time.perf_counter()
        built = None
        try:
            size = self._store.count(name, snapshot)
            built = fill(
                vectors.dim,
                size,
                kind,
                vectors.settings.ivf_codec,
                lambda n: self._store.sample_vectors(name, vectors.dim, n, snapshot),
                self._store.iter_vectors(name, vectors.dim, BATCH, snapshot),
                self._stop,
            )
        except Cancelled:
            pass
        except Exception:  # the old index keeps serving; the next write tries again
            log.exception("rebuilding the vector index of %r failed", name)
        finally:
            snapshot.close()
        with self._write_lock:
            with self._readers.exclusive():
                keep = built is not None and not vectors.retired and not self._stop.is_set()
                vectors.end_rebuild(*(built if keep else (None, 0)))  # type: ignore[misc]
            if keep:
                log.info(
                    "vector index of %r rebuilt (%s, %d chunks) in %.1f s",
                    name,
                    kind,
                    len(vectors),
                    time.perf_counter() - started,
                )
                self._saved(name, vectors)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the rebuilds in flight (tests and benchmarks)."""
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def stop(self) -> None:
        """Cancel the rebuilds in flight and wait for them to let go."""
        self._stop.set()
        self.wait()
