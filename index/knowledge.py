"""KnowledgeIndex: the one object that reads and writes collections of documents."""

from __future__ import annotations

import logging
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.errors import IndexMismatchError, InvalidRequestError, NotFoundError
from core.types import COLLECTION_PATTERN, Chunk, Document, ParsedDocument
from index.embedders import Embedder
from index.gpu import GpuFaiss
from index.lexical import TOKENIZER_VERSION, Held, LexicalIndex, tokenize
from index.lexical import build as build_lexical
from index.lexical import sync as sync_lexical
from index.store import Store
from index.vectors import VectorIndex

log = logging.getLogger(__name__)
COLLECTION_NAME = re.compile(COLLECTION_PATTERN)
_RETOKENIZE_BATCH = 10_000  # chunks per transaction when the tokenizer changed


def check_collection_name(name: str) -> str:
    if not COLLECTION_NAME.match(name):
        raise InvalidRequestError(
            f"collection name must be 1-64 letters, digits, '-' or '_', got {name!r}"
        )
    return name


@dataclass
class _Collection:
    vectors: VectorIndex
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
        self._lexical: dict[str, LexicalIndex] = {}  # opened (and repaired) on first use
        self._check_embedder()
        self._check_tokenizer()
        self._lexical_owner = f"{self.index_id} {TOKENIZER_VERSION}"

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
        """Stored BM25 tokens from an older tokenizer are rebuilt from the stored chunk text,
        a batch per transaction, resuming where an interrupted run stopped. (The lexical
        indexes, which record the tokenizer they were built with, then rebuild themselves.)"""
        if self.store.get_meta("tokenizer") == TOKENIZER_VERSION:
            return
        version, _, done = (self.store.get_meta("retokenized") or "").partition(" ")
        after = int(done) if version == TOKENIZER_VERSION else 0
        while True:
            with self.store.transaction() as db:
                last = self.store.retokenize(db, tokenize, after, _RETOKENIZE_BATCH)
                if last is None:
                    self.store.set_meta("tokenizer", TOKENIZER_VERSION)
                else:
                    self.store.set_meta("retokenized", f"{TOKENIZER_VERSION} {last}")
            if last is None:
                break
            log.info("re-tokenized chunks up to id %d (tokenizer %s)", last, TOKENIZER_VERSION)
            after = last

    def _vector_path(self, collection: str) -> Path:
        return self.data_dir / "vectors" / f"{collection}.faiss"

    def _lexical_path(self, collection: str) -> Path:
        return self.data_dir / "lexical" / collection

    def _lexical_index(self, name: str, *, check: bool = False) -> LexicalIndex:
        """A collection's lexical index, in step with the store (call under _lock); checked
        when it is opened, and again when `check` says so (writers: a cheap look-up).

        Writers commit tantivy first and the store second, so after a crash tantivy holds at
        most one change the store lacks: the chunk span its record names, which is repaired
        alone. Anything else out of step (no index yet: one made by an older kbqa, or another
        database's, tokenizer's or an interrupted build) is built from the stored tokens.
        """
        lexical = self._lexical.get(name)
        if lexical is not None and not check:
            return lexical
        if lexical is None:
            lexical = self._lexical[name] = LexicalIndex(self._lexical_path(name))
        generation = self.store.collections().get(name, 0)
        held = lexical.held()
        if held is None and generation == 0:
            return lexical  # new and empty
        owner = self._lexical_owner

        def fetch(first: int, last: int, limit: int) -> list[tuple[int, str]]:
            return self.store.token_rows(name, first, last, limit)

        if held is not None and held.complete and held.owner == owner:
            if held.generation == generation:
                return lexical
            if held.generation == generation + 1:
                log.info("lexical index of %s: undoing an uncommitted change", name)
                span = [(held.span_lo, held.span_hi)]
                lexical.searcher = sync_lexical(lexical, owner, generation, span, fetch)
                return lexical
        log.info("lexical index of %s: building from the stored tokens", name)
        lexical.searcher = build_lexical(lexical, owner, generation, fetch)
        return lexical

    def _held(self, generation: int, ids: list[int]) -> Held:
        """The record a lexical commit leaves for the change of `ids` to `generation`."""
        span = (min(ids), max(ids)) if ids else (0, -1)
        return Held(generation, *span, True, self._lexical_owner)

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
            if collection not in self._lexical and collection not in self.store.collections():
                return []
            searcher = self._lexical_index(collection).searcher  # a snapshot
        return searcher.search(query, k)

    def chunks(self, ids: list[int]) -> dict[int, tuple[str, str, Chunk]]:
        with self._lock:
            return self.store.chunks(ids)

    # -- writing ----------------------------------------------------------------------------
    # Writers take `_write_lock` (one at a time) and commit the lexical change outside `_lock`
    # (invisible to readers until its snapshot is swapped in), then hold `_lock` only to commit
    # the store and swap: readers wait milliseconds, and the change's cost is its own size.
    def _settle_lexical(self, collection: str) -> None:
        """After a write failed half way: put the lexical index back in step with the store
        (undoing the change if the store refused it) and show searches what it holds."""
        with self._lock:
            self._lexical_index(collection, check=True).refresh()

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
                generation = self.store.collections().get(collection, 0) + 1
                lexical = self._lexical_index(collection, check=True)
            ids = list(range(first, first + len(chunks)))
            rows = [(i, " ".join(t)) for i, t in zip(ids, tokens, strict=True)]
            searcher = lexical.commit(self._held(generation, ids), add=rows)
            try:
                with self._lock:
                    with self.store.transaction() as db:
                        self.store.ensure_collection(db, collection)
                        self.store.insert_document(db, doc)
                        self.store.insert_chunks(db, collection, chunks, tokens, vectors, ids)
                        generation = self.store.bump_generation(db, collection)
                    state = self._collection(collection)
                    if state.vectors.generation != generation:  # not freshly rebuilt with these
                        state.vectors.add(np.asarray(ids, dtype=np.int64), vectors)
                        state.vectors.generation = generation
                    lexical.searcher, state.dirty = searcher, True
            except BaseException:
                self._settle_lexical(collection)
                raise
        return doc

    def delete_document(self, collection: str, doc_id: str) -> Document:
        """Remove a document and every trace of it: chunks, vectors, BM25 terms."""
        with self._write_lock:
            doc = self.document(collection, doc_id)
            with self._lock:
                ids = self.store.chunk_ids_of(collection, doc_id)
                generation = self.store.collections()[collection] + 1
                lexical = self._lexical_index(collection, check=True)
            searcher = lexical.commit(self._held(generation, ids), remove=ids)
            try:
                with self._lock:
                    with self.store.transaction() as db:
                        self.store.delete_document(db, collection, doc_id)
                        generation = self.store.bump_generation(db, collection)
                    state = self._collection(collection)
                    state.vectors.remove(ids)
                    state.vectors.generation = generation
                    lexical.searcher, state.dirty = searcher, True
            except BaseException:
                self._settle_lexical(collection)
                raise
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
            lexical = self._lexical.pop(collection, None)
            if lexical is not None:
                lexical.close()
            shutil.rmtree(self._lexical_path(collection), ignore_errors=True)
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
                stored = self.store.chunk_ids(name)
                expected = sum(d.chunks for d in documents)
                if len(stored) != expected:
                    problems.append(
                        f"{name}: {len(stored)} chunks stored, documents say {expected}"
                    )
                state = self._collection(name)
                if state.vectors.ids() != set(stored.tolist()):
                    problems.append(f"{name}: the vector index and the stored chunks differ")
                lexical = self._lexical_index(name, check=True).searcher.chunk_ids()
                if not np.array_equal(lexical, stored):
                    problems.append(f"{name}: the lexical index and the stored chunks differ")
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
        for lexical in self._lexical.values():
            lexical.close()
        self.store.close()
