"""Dense vectors of one collection, keyed by chunk id: exact search below a size, IVF above it.

:class:`VectorIndex` is the interface a collection's vectors offer (add, remove, search, ids),
small enough for a server engine (Milvus) to implement; :class:`FaissVectors` is the local
implementation, and what ``KnowledgeIndex`` holds, with the rebuild and file lifecycle below
that only a local index needs. Every FAISS index kbqa makes comes from
:func:`build_faiss_index` and every search goes through :func:`search_faiss` (which hands it to
the GPU copy when there is one: index/gpu.py).

Lifecycle of a collection's FAISS index (see ``DenseSettings``):

- up to ``exact_max`` chunks: ``IndexIDMap2(IndexFlatIP)``, exact;
- past it: IVF (``IVF<nlist>,Flat``, nlist about sqrt(n)) with a hashtable direct map, so a
  delete costs what it removes. It is trained on a sample and filled from SQLite in a
  background thread while searches and writes go on; writes made meanwhile are journaled and
  replayed onto the new index, which is then swapped in (:mod:`index.builds`);
- retrained the same way when the collection has grown ``retrain_growth`` times since, and
  made exact again below half ``exact_max``.

The file on disk is a cache of SQLite, written now and then (``checkpoint_changes``) and at
close; on open, whatever changed since it was written is replayed from SQLite by chunk id.
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np

from core.files import write_atomically
from core.settings import DenseSettings
from index.gpu import GpuFaiss, GpuMirror

_FAISS: Any = faiss  # its type stubs lack DirectMap and the SearchParameters' fields
TRAIN_POINTS_PER_LIST = 64  # k-means sample per IVF list (FAISS warns below 39)


class VectorIndex(ABC):
    """A collection's unit-length vectors keyed by chunk id, searched by inner product.

    Changes (:meth:`add`, :meth:`remove`) are serialised by the caller and never run during a
    search; searches may run in many threads at once.
    """

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under chunk ids that are not in the index."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors of these chunk ids (ids not in the index are ignored)."""

    @abstractmethod
    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest chunk ids with their inner products, best first."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """Every chunk id in the index, sorted."""

    @abstractmethod
    def __len__(self) -> int: ...


# -- the two FAISS entry points ---------------------------------------------------------------
def ivf_lists(size: int) -> int:
    """IVF lists for a collection of ``size`` vectors: about sqrt(n), and enough points each
    to train on."""
    return max(1, min(int(math.sqrt(size)), size // TRAIN_POINTS_PER_LIST))


def build_faiss_index(
    dim: int, sample: np.ndarray | None = None, nlist: int = 1, codec: str = "Flat"
) -> faiss.Index:
    """A new, empty FAISS index: exact without a sample; IVF trained on ``sample`` with one.

    The IVF index gets a hashtable direct map: deletes then cost what they remove, not a scan.
    """
    if sample is None:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    index: Any = faiss.index_factory(dim, f"IVF{nlist},{codec}", faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.set_direct_map_type(_FAISS.DirectMap.Hashtable)
    return index


def search_faiss(
    index: faiss.Index, queries: np.ndarray, k: int, nprobe: int, gpu: GpuMirror | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the k nearest of each query row; FAISS releases the GIL meanwhile.
    With ``gpu``, its copy of ``index`` answers when it can (index/gpu.py).

    One OpenMP thread per search: queries come one at a time from many threads, and FAISS
    splitting one query over the cores cost 10x on a busy 2-core machine (threads spinning
    against each other). The setting is this thread's own, and it is put back after the
    search: torch reads the same OpenMP setting, so a thread's next embedding or MaxSim rerank
    ran on one core (twice as slow) once that thread had searched.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, index.d)
    params = None
    if isinstance(index, faiss.IndexIVF):
        # Per call, not index.nprobe: searches in other threads share the index.
        params = _FAISS.SearchParametersIVF(nprobe=min(nprobe, index.nlist))
    found = gpu.search(index, queries, k, params) if gpu is not None else None
    if found is not None:
        return found
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k, params=params)
    finally:
        faiss.omp_set_num_threads(threads)


def faiss_ids(index: faiss.Index) -> np.ndarray:
    """The ids stored in an index made by :func:`build_faiss_index`, sorted."""
    if isinstance(index, faiss.IndexIVF):
        lists: Any = index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(index.nlist)
            if lists.list_size(i)
        ]
        ids = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    else:
        ids = faiss.vector_to_array(cast(Any, index).id_map)
    return np.sort(ids.astype(np.int64))


def _remove(index: faiss.Index, ids: np.ndarray) -> None:
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if isinstance(index, faiss.IndexIVF):  # the hashtable removes an IDSelectorArray only
        index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))
    else:
        index.remove_ids(cast(Any, ids))


# -- the local implementation -----------------------------------------------------------------
class FaissVectors(VectorIndex):
    """A collection's FAISS index, with what its lifecycle needs (see the module docstring)."""

    def __init__(
        self,
        dim: int,
        settings: DenseSettings | None = None,
        index: faiss.Index | None = None,
        trained_at: int = 0,
        gpu: GpuFaiss | None = None,
    ) -> None:
        self.dim = dim
        self.settings = settings or DenseSettings()
        # With a GPU, searches go to a copy there, cloned afresh when the index is swapped;
        # this index stays the truth, and the one saved (index/gpu.py).
        self._gpu: GpuMirror | None = gpu.mirror() if gpu else None
        self._index = index if index is not None else build_faiss_index(dim)
        self.trained_at = trained_at  # collection size the IVF index was trained at; 0: exact
        self.generation = -1  # the store's generation this index mirrors (-1: not known)
        self.changes = 0  # chunks added or removed since the file was written
        self.retired = False  # its collection was deleted: a build in flight must not swap
        self._journal: list[tuple[np.ndarray, np.ndarray | None]] | None = None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def faiss_index(self) -> faiss.Index:
        """The FAISS index itself (on the CPU), for timing it bare."""
        return self._index

    @property
    def exact(self) -> bool:
        return not isinstance(self._index, faiss.IndexIVF)

    def ids(self) -> np.ndarray:
        return faiss_ids(self._index)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._index.add_with_ids(vectors, ids)
        if self._gpu is not None:
            self._gpu.add(ids, vectors)
        self.changes += len(ids)
        if self._journal is not None:
            self._journal.append((ids, vectors))

    def remove(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        ids = np.asarray(ids, dtype=np.int64)
        before = len(self)
        _remove(self._index, ids)
        if self._gpu is not None:
            self._gpu.remove(ids.tolist(), removed=before - len(self))
        self.changes += len(ids)
        if self._journal is not None:
            self._journal.append((ids, None))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not len(self) or k <= 0:
            return []
        k = min(k, len(self))
        scores, ids = search_faiss(self._index, query, k, self.settings.nprobe, self._gpu)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    # -- rebuilds ---------------------------------------------------------------------------
    def wanted(self) -> str | None:
        """The rebuild this index needs at its size: 'ivf', 'exact' or None."""
        size, s = len(self), self.settings
        if self.exact:
            return "ivf" if size > s.exact_max else None
        if size <= s.exact_max // 2:
            return "exact"
        return "ivf" if size >= s.retrain_growth * max(self.trained_at, 1) else None

    def begin_rebuild(self) -> None:
        """Journal changes from now on, to replay them onto the index being built."""
        self._journal = []

    def end_rebuild(self, index: faiss.Index | None, trained_at: int) -> None:
        """Swap in the rebuilt index (None: abandon it) after replaying the journal onto it."""
        journal, self._journal = self._journal or [], None
        if index is None:
            return
        for ids, vectors in journal:
            if vectors is None:
                _remove(index, ids)
            else:
                index.add_with_ids(vectors, ids)
        self._index, self.trained_at = index, trained_at
        self.changes = max(self.changes, self.settings.checkpoint_changes)  # worth writing

    # -- the file ---------------------------------------------------------------------------
    def due(self) -> bool:
        """Whether a flush should write the file: enough changes to replay at open, and no
        rebuild in flight (its index is written when it is swapped in)."""
        if self._journal is not None:
            return False
        return self.changes >= min(self.settings.checkpoint_changes, max(len(self) // 10, 1))

    def save(self, path: Path, owner: str = "") -> None:
        """Write the index (streamed by FAISS, not copied in memory), then its sidecar.

        The caller keeps writers out meanwhile; searches may go on. A crash between the two
        renames leaves a sidecar that does not describe the file, which :meth:`load` notices.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        meta = {
            "owner": owner,
            "dim": self.dim,
            "generation": self.generation,
            "ntotal": len(self),
            "trained_at": self.trained_at,
        }
        write_atomically(path.with_suffix(".json"), json.dumps(meta).encode())
        self.changes = 0

    @classmethod
    def load(
        cls,
        path: Path,
        dim: int,
        owner: str = "",
        settings: DenseSettings | None = None,
        gpu: GpuFaiss | None = None,
    ) -> FaissVectors | None:
        """The saved index if it belongs to this database, else None. Its ``generation`` is -1
        unless the sidecar vouches for it (then nothing needs replaying)."""
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            if (meta.get("owner"), meta.get("dim")) != (owner, dim):
                return None
            index: Any = faiss.read_index(str(path))
        except (OSError, ValueError, RuntimeError):
            return None
        if index.d != dim:
            return None
        vouched = meta.get("ntotal") == index.ntotal
        ivf = isinstance(index, faiss.IndexIVF)
        trained_at = int(meta.get("trained_at") or 0) if vouched else 0
        if ivf:
            index.set_direct_map_type(_FAISS.DirectMap.Hashtable)  # in case a file lacks it
            trained_at = trained_at or int(index.ntotal) or 1
        out = cls(dim, settings, index, trained_at if ivf else 0, gpu)
        out.generation = int(meta.get("generation", -1)) if vouched else -1
        return out
