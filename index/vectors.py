"""A FAISS inner-product index keyed by chunk id, persisted atomically with its generation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from core.files import write_atomically
from index.gpu import GpuFaiss, GpuMirror


class VectorIndex:
    """Exact inner-product search (vectors are unit length, so this is cosine) over chunk ids."""

    def __init__(
        self, dim: int, generation: int = 0, owner: str = "", gpu: GpuFaiss | None = None
    ) -> None:
        self.dim = dim
        self.generation = generation
        self.owner = owner  # id of the database this index mirrors
        self._index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        # With a GPU, searches go to a copy there; this index stays the truth (index/gpu.py).
        self._gpu: GpuMirror | None = gpu.mirror() if gpu else None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> set[int]:
        return {int(i) for i in faiss.vector_to_array(self._index.id_map)}  # type: ignore[attr-defined]

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            self._index.add_with_ids(vectors, ids)
            if self._gpu is not None:
                self._gpu.add(ids, vectors)

    def remove(self, ids: list[int]) -> None:
        if ids:
            before = len(self)
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))  # type: ignore[arg-type]
            if self._gpu is not None:
                self._gpu.remove(ids, removed=before - len(self))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not len(self) or k <= 0:
            return []
        queries, k = query.reshape(1, -1).astype(np.float32), min(k, len(self))
        found = self._gpu.search(self._index, queries, k) if self._gpu is not None else None
        scores, ids = found if found is not None else self._index.search(queries, k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def save(self, path: Path) -> None:
        """Write the index and its generation; readers see the old files or the new, never half."""
        self.snapshot().save(path)

    def snapshot(self) -> VectorSnapshot:
        """The index as bytes in memory (fast), to be written to disk later (slow)."""
        data = faiss.serialize_index(self._index)
        return VectorSnapshot(data, self.generation, self.owner, self.dim)

    @classmethod
    def load(
        cls, path: Path, dim: int, generation: int, owner: str, gpu: GpuFaiss | None = None
    ) -> VectorIndex | None:
        """The saved index if it mirrors this database at this generation, else None."""
        sidecar = path.with_suffix(".json")
        try:
            meta = json.loads(sidecar.read_text())
            if (meta.get("owner"), meta.get("generation"), meta.get("dim")) != (
                owner,
                generation,
                dim,
            ):
                return None
            index = faiss.read_index(str(path))
        except (OSError, ValueError, RuntimeError):
            return None
        out = cls(dim, generation, owner, gpu)
        out._index = index
        return out


@dataclass(frozen=True)
class VectorSnapshot:
    data: np.ndarray  # faiss.serialize_index output
    generation: int
    owner: str
    dim: int

    def save(self, path: Path) -> None:
        """Write atomically: the index file, then its sidecar (owner, generation, dim)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, self.data.tobytes())
        meta = {"owner": self.owner, "generation": self.generation, "dim": self.dim}
        write_atomically(path.with_suffix(".json"), json.dumps(meta).encode())
