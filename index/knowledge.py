"""KnowledgeIndex: the one object that reads and writes collections of documents."""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import IndexMismatchError, InvalidRequestError, NotFoundError
from core.settings import DenseSettings, Settings
from core.types import Chunk, Document, ParsedDocument
from index.backend import IndexBackend, check_chunks, check_collection_name, new_document
from index.builds import BATCH, Rebuilds
from index.embedders import Embedder, settings_for
from index.gpu import GpuFaiss, gpu_faiss
from index.lexical import TOKENIZER_VERSION, Held, LexicalIndex, LexicalSearcher, tokenize
from index.lexical import build as build_lexical
from index.lexical import sync as sync_lexical
from index.locks import SharedLock
from index.store import ChunkRecord, Store
from index.vectors import FaissVectors

log = logging.getLogger(__name__)
_RETOKENIZE_BATCH = 10_000  # chunks per transaction when the tokenizer changed


@dataclass
class _Collection:
    vectors: FaissVectors


class KnowledgeIndex:
    """Collections of documents: SQLite for the truth, FAISS and BM25 derived from it.

    Every change is one SQLite transaction; the in-memory FAISS index follows it, and its file
    is written now and then by :meth:`flush` and at :meth:`close`. On open, whatever changed
    since the file was written is replayed from the stored vectors, so a crash at any point
    loses nothing.

    Locks: searches hold ``_lock`` shared, side by side; a writer holds ``_write_lock`` (one at
    a time) while it prepares, and ``_lock`` exclusively only to commit and swap, so searches
    wait milliseconds. Flushes and rebuild swaps take ``_write_lock`` too.
    """

    def __init__(
        self,
        data_dir: Path,
        embedder: Embedder,
        dense: DenseSettings | None = None,
        gpu: GpuFaiss | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.embedder = embedder
        self.dense = dense or DenseSettings()
        self.gpu = gpu  # vector search on this GPU (index/gpu.py); None: on the CPU
        self.store = Store(data_dir / "kbqa.sqlite3")
        self._lock = SharedLock()  # searches share it; a writer's commit has it alone
        self._write_lock = threading.Lock()  # one writer at a time, flushes and swaps included
        self._load_lock = threading.Lock()  # one thread loads a collection's state
        self._collections: dict[str, _Collection] = {}
        self._lexical: dict[str, LexicalIndex] = {}  # opened (and repaired) on first use
        self._check_embedder()
        self._check_tokenizer()
        self._lexical_owner = f"{self.index_id} {TOKENIZER_VERSION}"
        # A FAISS file holds one model's vectors: after `kbqa reindex` the old files are refused.
        self._vectors_owner = f"{self.index_id} {self.embedder.name}"
        self._rebuilds = Rebuilds(self.store, self._write_lock, self._lock, self._save)
        with self._write_lock:  # opened now, so that the first search does not pay for it
            for name in self.store.collections():
                self._rebuilds.start_if_wanted(name, self._collection(name).vectors)

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
                f"not {self.embedder.name!r} ({self.embedder.dim}-d) as configured: run "
                f"`kbqa reindex` to re-embed its chunks with {self.embedder.name!r}, or set "
                f"{settings_for(name)} to keep using {name!r}"
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
        """A collection's lexical index, in step with the store (see :meth:`_sync_lexical`):
        checked when it is opened, and again when `check` says so (writers: a cheap look-up).
        One thread at a time opens or checks it: searches share the index lock."""
        lexical = self._lexical.get(name)
        if lexical is not None and not check:
            return lexical
        with self._load_lock:
            return self._sync_lexical(name)

    def _sync_lexical(self, name: str) -> LexicalIndex:
        """A collection's lexical index, in step with the store (call under _load_lock).

        Writers commit tantivy first and the store second, so after a crash tantivy holds at
        most one change the store lacks: the chunk span its record names, which is repaired
        alone. Anything else out of step (no index yet: one made by an older kbqa, or another
        database's, tokenizer's or an interrupted build) is built from the stored tokens.
        """
        lexical = self._lexical.get(name)
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
            with self._load_lock:
                state = self._collections.get(name)
                if state is None:
                    state = self._collections[name] = _Collection(self._open_vectors(name))
        return state

    def _open_vectors(self, name: str) -> FaissVectors:
        """The collection's saved FAISS index brought up to date, or one rebuilt from SQLite.

        Up to date means: the chunks added since it was saved added, those deleted removed,
        by chunk id (ids are never reused). A rebuild is exact (a copy, no training); an IVF
        index, if the size calls for one, is then built in the background.
        """
        dim, generation = self.embedder.dim, self.store.collections()[name]
        path = self._vector_path(name)
        vectors = FaissVectors.load(path, dim, self._vectors_owner, self.dense, self.gpu)
        if vectors is None:
            vectors = FaissVectors(dim, self.dense, gpu=self.gpu)
            for ids, batch in self.store.iter_vectors(name, dim, BATCH):
                vectors.add(ids, batch)
        elif vectors.generation != generation:
            have, want = vectors.ids(), self.store.chunk_ids(name)
            vectors.remove(np.setdiff1d(have, want, assume_unique=True))
            for ids, batch in self.store.vectors_of(np.setdiff1d(want, have), dim):
                vectors.add(ids, batch)
            log.info("vector index of %r: %d changes replayed", name, vectors.changes)
        vectors.generation = generation
        return vectors

    # -- reading ----------------------------------------------------------------------------
    # Every read holds the lock shared: a reader must see the index before or after a change,
    # never half of one (see `reading`). Readers do not wait for each other.
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
            raise NotFoundError.said(
                "errors.no_document", document=repr(doc_id), collection=repr(collection)
            )
        return doc

    def find_document(self, collection: str, doc_id: str) -> Document | None:
        with self._lock:
            return self.store.document(collection, doc_id)

    def engines(self, collection: str) -> tuple[FaissVectors, LexicalSearcher]:
        """The dense and lexical engines of a collection as they stand, for benchmarks that time
        the libraries under kbqa bare; searches go through :meth:`dense_search` and
        :meth:`lexical_search`."""
        with self._lock:
            return self._collection(collection).vectors, self._lexical_index(collection).searcher

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

    def chunks(self, ids: list[int]) -> dict[int, ChunkRecord]:
        with self._lock:
            return self.store.chunks(ids)

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        with self._lock:
            batches = list(self.store.vectors_of(np.asarray(ids), self.embedder.dim))
        return {int(i): v for ids_, batch in batches for i, v in zip(ids_, batch, strict=True)}

    def document_chunks(self, collection: str, doc_id: str) -> tuple[list[Chunk], np.ndarray]:
        """A document's chunks in order with their vectors."""
        with self._lock:
            ids = self.store.chunk_ids_of(collection, doc_id)
            records = self.store.chunks(ids)
            parts = dict(
                pair
                for batch_ids, batch in self.store.vectors_of(np.asarray(ids), self.embedder.dim)
                for pair in zip(batch_ids.tolist(), batch, strict=True)
            )
        order = sorted(ids, key=lambda i: records[i].chunk.ordinal)
        chunks = [records[i].chunk.model_copy(update={"id": None}) for i in order]
        vectors = np.asarray([parts[i] for i in order], dtype=np.float32)
        return chunks, vectors.reshape(len(order), self.embedder.dim)

    # -- writing ----------------------------------------------------------------------------
    # Writers take `_write_lock` (one at a time) and commit the lexical change outside `_lock`
    # (invisible to readers until its snapshot is swapped in), then hold `_lock` exclusively
    # only to commit the store and swap: readers wait milliseconds, and the change's cost is its
    # own size.
    def _settle_lexical(self, collection: str) -> None:
        """After a write failed half way: put the lexical index back in step with the store
        (undoing the change if the store refused it) and show searches what it holds."""
        with self._lock.exclusive():
            self._lexical_index(collection, check=True).refresh()

    def add_document(
        self, collection: str, parsed: ParsedDocument, chunks: list[Chunk], vectors: np.ndarray
    ) -> Document:
        """Add a parsed, chunked, embedded document in one transaction; returns its record."""
        return self.import_document(new_document(collection, parsed, chunks), chunks, vectors)

    def import_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray) -> Document:
        """Add a document with the given record (read from another index) in one transaction."""
        collection = check_collection_name(doc.collection)
        check_chunks(doc, chunks, vectors)
        tokens = [tokenize(c.indexed_text) for c in chunks]
        with self._write_lock:
            first = self.store.next_chunk_id()
            generation = self.store.collections().get(collection, 0) + 1
            lexical = self._lexical_index(collection, check=True)
            exists = collection in self.store.collections()
            state = self._collection(collection) if exists else None  # loaded before we commit
            ids = list(range(first, first + len(chunks)))
            rows = [(i, " ".join(t)) for i, t in zip(ids, tokens, strict=True)]
            searcher = lexical.commit(self._held(generation, ids), add=rows)
            try:
                with self._lock.exclusive():
                    with self.store.transaction() as db:
                        self.store.ensure_collection(db, collection)
                        self.store.insert_document(db, doc)
                        self.store.insert_chunks(db, collection, chunks, tokens, vectors, ids)
                        generation = self.store.bump_generation(db, collection)
                    if state is None:
                        state = self._collections[collection] = _Collection(
                            FaissVectors(self.embedder.dim, self.dense, gpu=self.gpu)
                        )
                    state.vectors.add(np.asarray(ids, dtype=np.int64), vectors)
                    state.vectors.generation = generation
                    lexical.searcher = searcher
            except BaseException:
                self._settle_lexical(collection)
                raise
            self._rebuilds.start_if_wanted(collection, state.vectors)
        return doc

    def delete_document(self, collection: str, doc_id: str) -> Document:
        """Remove a document and every trace of it: chunks, vectors, BM25 terms."""
        with self._write_lock:
            doc = self.document(collection, doc_id)
            ids = self.store.chunk_ids_of(collection, doc_id)
            generation = self.store.collections()[collection] + 1
            lexical = self._lexical_index(collection, check=True)
            state = self._collection(collection)
            searcher = lexical.commit(self._held(generation, ids), remove=ids)
            try:
                with self._lock.exclusive():
                    with self.store.transaction() as db:
                        self.store.delete_document(db, collection, doc_id)
                        generation = self.store.bump_generation(db, collection)
                    state.vectors.remove(np.asarray(ids, dtype=np.int64))
                    state.vectors.generation = generation
                    lexical.searcher = searcher
            except BaseException:
                self._settle_lexical(collection)
                raise
            self._rebuilds.start_if_wanted(collection, state.vectors)
        return doc

    def delete_collection(self, collection: str) -> list[Document]:
        """Remove a collection with all its documents; returns what was removed."""
        # The write lock keeps flushes and rebuild swaps out: neither may write the file back.
        with self._write_lock, self._lock.exclusive():
            if collection not in self.store.collections():
                raise NotFoundError.said("errors.no_collection", collection=repr(collection))
            removed = self.store.documents(collection)
            # The file goes first: a crash before the commit leaves it missing (rebuilt from the
            # database), never stale for a new collection of the same name.
            state = self._collections.pop(collection, None)
            if state is not None:
                state.vectors.retired = True  # a rebuild in flight must not swap it back
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
                if not np.array_equal(state.vectors.ids(), stored):
                    problems.append(f"{name}: the vector index and the stored chunks differ")
                lexical_ids = self._lexical_index(name, check=True).searcher.chunk_ids()
                if not np.array_equal(lexical_ids, stored):
                    problems.append(f"{name}: the lexical index and the stored chunks differ")
        return problems

    def problem(self) -> str | None:
        """None: a local index is there while the process is."""
        return None

    def wait_for_rebuilds(self, timeout: float | None = None) -> None:
        """Wait until vector indexes being rebuilt in the background are swapped in."""
        self._rebuilds.wait(timeout)

    def _save(self, name: str, vectors: FaissVectors) -> None:
        """Write a collection's FAISS file (call under the write lock: no change meanwhile)."""
        if self._collections.get(name) is not None and not vectors.retired:
            vectors.save(self._vector_path(name), self._vectors_owner)

    def flush(self, force: bool = False) -> None:
        """Write the FAISS files that have enough changes to be worth it (all changed ones with
        ``force``). Searches go on meanwhile; writers wait (a file at 1M chunks: seconds)."""
        with self._write_lock:
            for name, state in list(self._collections.items()):
                if state.vectors.changes and (force or state.vectors.due()):
                    self._save(name, state.vectors)

    def close(self) -> None:
        self._rebuilds.stop()  # not under the write lock: a finishing rebuild takes it
        self.flush(force=True)
        for lexical in self._lexical.values():
            lexical.close()
        self.store.close()


def open_local(settings: Settings, embedder: Embedder) -> KnowledgeIndex:
    return KnowledgeIndex(settings.data_dir, embedder, settings.dense, gpu_faiss(settings.gpu))


def local_index(index: IndexBackend) -> KnowledgeIndex:
    """The index as the local backend, for the benchmarks that time its engines bare."""
    if not isinstance(index, KnowledgeIndex):
        raise InvalidRequestError(
            f"this needs the local index, not {type(index).__name__}: set KBQA_INDEX__BACKEND=local"
        )
    return index
