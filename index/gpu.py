"""FAISS on a GPU: a search replica of each CPU index, which stays the truth.

FAISS clones a CPU index to the GPU (``index_cpu_to_gpu``: flat and IVF indexes, inside an
``IndexIDMap`` too) and back. But GPU indexes cannot remove vectors, and their files would not
open on a machine without a GPU. So the CPU index keeps every change and is the one saved; its
GPU copy answers the searches. The copy gets every addition too. A deletion only records the
ids: the GPU is asked for that many more neighbours and the deleted ones are dropped, which is
exact, until enough have piled up that the copy is cloned afresh from the CPU index.

FAISS's GPU resources serve one thread at a time (FAISS wiki, "Threads and asynchronous
calls"), so every call that touches the GPU holds one lock per :class:`GpuFaiss`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import faiss
import numpy as np

from core.settings import GpuSettings

log = logging.getLogger(__name__)

# The most neighbours a FAISS GPU search returns (GPU_MAX_SELECTION_K, CUDA builds).
GPU_MAX_K = 2048
# Deleted rows a replica carries before it is cloned afresh: each search asks for k more.
MAX_DELETED = 1024


def gpu_faiss(settings: GpuSettings) -> GpuFaiss | None:
    """The GPU that vector search runs on, or None: off in settings, a FAISS built without GPU
    support (faiss-cpu), or no GPU that FAISS sees at ``settings.device``."""
    if not settings.faiss:
        return None
    if not hasattr(faiss, "StandardGpuResources"):
        log.debug("vector search on the CPU: this FAISS has no GPU support (faiss-cpu)")
        return None
    count = faiss.get_num_gpus()
    if settings.device >= count:
        if count:
            log.warning(
                "vector search on the CPU: gpu.device is %d but FAISS sees %d GPU(s)",
                settings.device,
                count,
            )
        return None
    log.info("vector search on GPU %d", settings.device)
    return GpuFaiss(settings)


class GpuFaiss:
    """One GPU's FAISS resources, shared by the replicas of every collection."""

    def __init__(self, settings: GpuSettings) -> None:
        self.device = settings.device
        self.float16 = settings.float16
        self.resources = faiss.StandardGpuResources()
        if settings.temp_memory_mb is not None:
            self.resources.setTempMemory(settings.temp_memory_mb * 2**20)
        self.lock = threading.Lock()
        self._refused: set[tuple[str, str]] = set()  # (index type, error), warned about once

    def clone(self, index: faiss.Index) -> faiss.Index | None:
        """A GPU copy of a CPU index, or None when FAISS cannot make one: no GPU form for its
        type (HNSW), or no room on the GPU. The caller holds :attr:`lock`."""
        options = faiss.GpuClonerOptions()
        options.useFloat16 = self.float16
        try:
            return faiss.index_cpu_to_gpu(self.resources, self.device, index, options)
        except RuntimeError as error:  # "This index type is not implemented on GPU.", or OOM
            why = (type(index).__name__, (str(error).strip().splitlines() or [""])[-1][:200])
            if why not in self._refused:
                self._refused.add(why)
                log.warning("%s searches on the CPU: FAISS cannot copy it to the GPU (%s)", *why)
            return None

    def mirror(self) -> GpuMirror:
        return GpuMirror(self)


class GpuMirror:
    """The GPU copy of one CPU index, kept in step by the index's own add/remove calls.

    Built on the first search; built again when the CPU index object is another one (loaded,
    retrained), when its size says a change went past the mirror, or when too many deletions
    have piled up.
    """

    def __init__(self, gpu: GpuFaiss) -> None:
        self.gpu = gpu
        self._replica: faiss.Index | None = None
        self._source: faiss.Index | None = None  # the CPU index the replica was cloned from
        self._deleted: set[int] = set()  # ids removed from the CPU index, to filter out
        self._hidden = 0  # rows of the replica that the CPU index no longer holds
        self._unsupported = False  # the source's type has no GPU form: search on the CPU

    @property
    def on_gpu(self) -> bool:
        return self._replica is not None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Call after adding the same rows to the CPU index."""
        with self.gpu.lock:
            if self._replica is None:
                return
            if self._deleted.intersection(ids.tolist()):  # an id back after a deletion
                self._drop()
                return
            self._replica.add_with_ids(vectors, ids)

    def remove(self, ids: Iterable[int], removed: int | None = None) -> None:
        """Call after removing ids from the CPU index; ``removed``: how many of them it held
        (all of them, if not given)."""
        with self.gpu.lock:
            if self._replica is None:
                return
            ids = {int(i) for i in ids}
            self._deleted |= ids
            self._hidden += len(ids) if removed is None else removed
            if self._hidden > MAX_DELETED:
                self._drop()  # cloned afresh by the next search, without them

    def search(
        self,
        source: faiss.Index,
        queries: np.ndarray,
        k: int,
        params: faiss.SearchParameters | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(scores, ids) as ``source.search(queries, k, params=params)`` gives them, from the
        GPU (``params``: an IVF index's per-call nprobe, which GPU IVF indexes take too); None
        when the caller must search ``source`` itself (no GPU form, or more neighbours than a
        GPU returns)."""
        with self.gpu.lock:
            replica = self._current(source)
            if replica is None:
                return None
            wanted = min(k + self._hidden, int(replica.ntotal))
            if wanted > GPU_MAX_K:
                return None
            scores, ids = replica.search(queries, max(wanted, 1), params=params)
            if not self._deleted:
                return scores[:, :k], ids[:, :k]
            return _without(scores, ids, self._deleted, k)

    def _current(self, source: faiss.Index) -> faiss.Index | None:
        """The replica of ``source`` as it is now (under the lock)."""
        if source is not self._source:
            self._drop()
            self._source, self._unsupported = source, False
        elif self._replica is not None and (self._replica.ntotal - self._hidden != source.ntotal):
            log.warning("the GPU copy of a vector index fell out of step; cloning it afresh")
            self._drop()
        if self._replica is None and not self._unsupported:
            self._replica = self.gpu.clone(source)
            self._unsupported = self._replica is None
        return self._replica

    def _drop(self) -> None:
        self._replica = None
        self._deleted, self._hidden = set(), 0


def _without(
    scores: np.ndarray, ids: np.ndarray, deleted: set[int], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's first ``k`` results whose id is not deleted, padded with (-inf, -1)."""
    out_scores = np.full((len(ids), k), -np.inf, dtype=scores.dtype)
    out_ids = np.full((len(ids), k), -1, dtype=ids.dtype)
    gone = np.isin(ids, np.fromiter(deleted, dtype=ids.dtype, count=len(deleted)))
    for row in range(len(ids)):
        keep = np.flatnonzero(~gone[row])[:k]
        out_scores[row, : len(keep)] = scores[row, keep]
        out_ids[row, : len(keep)] = ids[row, keep]
    return out_scores, out_ids
