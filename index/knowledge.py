"""KnowledgeIndex: the one object that reads and writes collections of documents."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.errors import IndexMismatchError, InvalidRequestError, NotFoundError
from core.types import COLLECTION_PATTERN, Chunk, Document, ParsedDocument
from index.embedders import Embedder
from index.gpu import GpuFaiss
from index.lexical import TOKENIZER_VERSION, LexicalIndex, tokenize
from index.store import Store
from index.vectors import VectorIndex

log = logging.getLogger(__name__)
COLLECTION_NAME = re.compile(COLLECTION_PATTERN)


def check_collection_name(name: str) -> str:
    if not COLLECTION_NAME.match(name):
        raise InvalidRequestError(
            f"collection name must be 1-64 letters, digits, '-' or '_', got {name!r}"
        )
    return name


@dataclass
class _Collection:
    vectors: VectorIndex
    lexical: LexicalIndex | None = None  # built on first search; writers replace it
    dirty: bool = field(default=False)  # vectors not yet saved


class KnowledgeIndex:
    """Collections of documents: SQLite for the truth, FAISS and BM25 derived from it.

    Every change is one SQLite transaction; the in-memory FAISS index follows it, and its file
    is written by :meth:`flush`. On open, a FAISS file whose generation does not match the
    database is rebuilt from the stored vectors, so a crash at any point loses nothing.
    """

    def __init__(self, data_dir: Path, embedder: Embedder, gpu: GpuFaiss | None = None) -> None:
        self.data_dir = data_dir
        self.embedder = embedder
        self.gpu = gpu  # vector search on this GPU (index/gpu.py); None: on the CPU
        self.store = Store(data_dir / "kbqa.sqlite3")
        self._lock = threading.RLock()  # readers, and writers while they commit
        self._write_lock = threading.Lock()  # one writer at a time
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._collections: dict[str, _Collection] = {}
        self._check_embedder()
        self._check_tokenizer()

    def _check_embedder(self) -> None:
        name, dim = self.store.get_meta("embedding_model"), self.store.get_meta("embedding_dim")
        if self.store.get_meta("index_id") is None:
            self.store.set_meta("index_id", uuid.uuid4().hex)
        self.index_id = self.store.get_meta("index_id") or ""
        if name is None:
            self.store.set_meta("embedding_model", self.embedder.name)
            self.store.set_meta("embedding_dim", str(self.embedder.dim))
        elif name != self.embedder.name or int(dim or 0) != self.embedder.dim:
            raise IndexMismatchError(
                f"index in {self.data_dir} was built with embedding model {name!r} ({dim}-d), "
                f"not {self.embedder.name!r} ({self.embedder.dim}-d); use another data_dir "
                "or re-ingest"
            )

    def _check_tokenizer(self) -> None:
        """Stored BM25 tokens from an older tokenizer are rebuilt from the stored chunk text."""
        if self.store.get_meta("tokenizer") == TOKENIZER_VERSION:
            return
        with self.store.transaction() as db:
            count = self.store.retokenize(db, tokenize)
            self.store.set_meta("tokenizer", TOKENIZER_VERSION)
        if count:
            log.info("re-tokenized %d chunks for BM25 (tokenizer %s)", count, TOKENIZER_VERSION)

    def _vector_path(self, collection: str) -> Path:
        return self.data_dir / "vectors" / f"{collection}.faiss"

    def _collection(self, name: str) -> _Collection:
        """The loaded state of a collection (which must exist in the store)."""
        state = self._collections.get(name)
        if state is None:
            generation = self.store.collections()[name]
            dim = self.embedder.dim
            path, owner = self._vector_path(name), self.index_id
            vectors = VectorIndex.load(path, dim, generation, owner, self.gpu)
            if vectors is None:  # missing or stale file: rebuild from the database
                vectors = VectorIndex(dim, generation, owner, self.gpu)
                vectors.add(*self.store.vectors(name, dim))
            state = self._collections[name] = _Collection(vectors)
        return state

    # -- reading ----------------------------------------------------------------------------
    # Every read holds the lock: the SQLite connection is shared, and a reader must see the
    # index before or after a change, never half of one (see `reading`).
    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the index still for several reads in a row (one consistent snapshot)."""
        with self._lock:
            yield

    def collections(self) -> list[str]:
        with self._lock:
            return list(self.store.collections())

    def stats(self) -> dict[str, tuple[int, int]]:
        """Collection -> (documents, chunks)."""
        with self._lock:
            return self.store.stats()

    def documents(self, collection: str | None = None) -> list[Document]:
        with self._lock:
            return self.store.documents(collection)

    def document(self, collection: str, doc_id: str) -> Document:
        doc = self.find_document(collection, doc_id)
        if doc is None:
            raise NotFoundError(f"no document {doc_id!r} in collection {collection!r}")
        return doc

    def find_document(self, collection: str, doc_id: str) -> Document | None:
        with self._lock:
            return self.store.document(collection, doc_id)

    def _loaded(self, collection: str) -> _Collection | None:
        """The state of a collection, or None if it does not exist (searching it finds nothing)."""
        if collection not in self._collections and collection not in self.store.collections():
            return None
        return self._collection(collection)

    def dense_search(self, collection: str, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        with self._lock:
            state = self._loaded(collection)
            return state.vectors.search(query, k) if state else []

    def lexical_search(self, collection: str, query: str, k: int) -> list[tuple[int, float]]:
        with self._lock:
            state = self._loaded(collection)
            if state is None:
                return []
            if state.lexical is None:
                state.lexical = LexicalIndex(*self.store.tokens(collection))
            lexical = state.lexical
        return lexical.search(query, k)

    def chunks(self, ids: list[int]) -> dict[int, tuple[str, str, Chunk]]:
        with self._lock:
            return self.store.chunks(ids)

    # -- writing ----------------------------------------------------------------------------
    # Writers take `_write_lock` (one at a time) and prepare the new BM25 index outside `_lock`,
    # which they hold only to commit and swap: readers wait milliseconds, not a BM25 rebuild
    # (seconds for a large collection).
    def _lexical_with(
        self,
        collection: str,
        add: dict[int, list[str]] | None = None,
        drop: AbstractSet[int] = frozenset(),
    ) -> LexicalIndex:
        """The collection's BM25 index as it will be after a change (call under _write_lock)."""
        with self._lock:
            ids, tokens = self.store.tokens(collection)
        kept = [(i, t) for i, t in zip(ids, tokens, strict=True) if i not in drop]
        kept += list((add or {}).items())
        return LexicalIndex([i for i, _ in kept], [t for _, t in kept])

    def add_document(
        self, collection: str, parsed: ParsedDocument, chunks: list[Chunk], vectors: np.ndarray
    ) -> Document:
        """Add a parsed, chunked, embedded document in one transaction; returns its record."""
        check_collection_name(collection)
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        doc = Document(
            id=parsed.id,
            collection=collection,
            filename=parsed.filename,
            kind=parsed.kind,
            size_bytes=parsed.size_bytes,
            pages=len(parsed.pages),
            chunks=len(chunks),
            added_at=datetime.now(UTC),
        )
        tokens = [tokenize(c.text) for c in chunks]
        with self._write_lock:
            with self._lock:
                first = self.store.next_chunk_id()
            ids = list(range(first, first + len(chunks)))
            lexical = self._lexical_with(collection, add=dict(zip(ids, tokens, strict=True)))
            with self._lock:
                with self.store.transaction() as db:
                    self.store.ensure_collection(db, collection)
                    self.store.insert_document(db, doc)
                    self.store.insert_chunks(db, collection, chunks, tokens, vectors, ids)
                    generation = self.store.bump_generation(db, collection)
                state = self._collection(collection)
                if state.vectors.generation != generation:  # not freshly rebuilt with these rows
                    state.vectors.add(np.asarray(ids, dtype=np.int64), vectors)
                    state.vectors.generation = generation
                state.lexical, state.dirty = lexical, True
        return doc

    def delete_document(self, collection: str, doc_id: str) -> Document:
        """Remove a document and every trace of it: chunks, vectors, BM25 terms."""
        with self._write_lock:
            doc = self.document(collection, doc_id)
            with self._lock:
                ids = self.store.chunk_ids_of(collection, doc_id)
            lexical = self._lexical_with(collection, drop=set(ids))
            with self._lock:
                with self.store.transaction() as db:
                    self.store.delete_document(db, collection, doc_id)
                    generation = self.store.bump_generation(db, collection)
                state = self._collection(collection)
                state.vectors.remove(ids)
                state.vectors.generation = generation
                state.lexical, state.dirty = lexical, True
        return doc

    def delete_collection(self, collection: str) -> list[Document]:
        """Remove a collection with all its documents; returns what was removed."""
        # The flush lock too: a flush in progress must not write the file back after this.
        with self._write_lock, self._flush_lock, self._lock:
            if collection not in self.store.collections():
                raise NotFoundError(f"no collection {collection!r}")
            removed = self.store.documents(collection)
            # The file goes first: a crash before the commit leaves it missing (rebuilt from the
            # database), never stale for a new collection of the same name.
            self._collections.pop(collection, None)
            self._vector_path(collection).unlink(missing_ok=True)
            with self.store.transaction() as db:
                self.store.delete_collection(db, collection)
        return removed

    def verify(self) -> list[str]:
        """What is inconsistent, if anything: every document's chunks must all be in the store,
        the vector index and BM25, and nothing else may be (an empty list: all is well)."""
        problems = []
        with self._lock:
            for name in self.store.collections():
                documents = self.store.documents(name)
                chunk_ids, _ = self.store.tokens(name)
                stored = set(chunk_ids)
                expected = sum(d.chunks for d in documents)
                if len(stored) != expected:
                    problems.append(
                        f"{name}: {len(stored)} chunks stored, documents say {expected}"
                    )
                state = self._collection(name)
                if state.vectors.ids() != stored:
                    problems.append(f"{name}: the vector index and the stored chunks differ")
                if state.lexical is not None and set(state.lexical.chunk_ids.tolist()) != stored:
                    problems.append(f"{name}: BM25 and the stored chunks differ")
        return problems

    def flush(self) -> None:
        """Write changed FAISS indexes to disk: copied under the lock, written outside it."""
        with self._flush_lock:
            with self._lock:
                snapshots = []
                for name, state in self._collections.items():
                    if state.dirty:
                        snapshots.append((self._vector_path(name), state.vectors.snapshot()))
                        state.dirty = False
            for path, snapshot in snapshots:
                snapshot.save(path)

    def close(self) -> None:
        self.flush()
        self.store.close()
