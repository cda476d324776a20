"""The index as the rest of kbqa sees it, and the backends that provide it, picked by name.

Two backends pass the same behavioural tests (tests/index/test_backends.py):

- ``local``: :class:`index.knowledge.KnowledgeIndex`, SQLite for the truth with FAISS and
  tantivy derived from it, under ``data_dir``; one process writes it.
- ``milvus``: :class:`index.milvus.MilvusIndex`, everything in a Milvus server, so any number of
  kbqa processes share one knowledge base.

Retrieval (fusion, CJK routing, rerank, excerpts) stays kbqa's on both: a backend answers a dense
and a lexical search per collection and hands back chunks by id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from core.errors import InvalidRequestError, NotFoundError
from core.registry import Registry
from core.settings import Settings
from core.types import COLLECTION_PATTERN, Chunk, Document, ParsedDocument
from index.embedders import Embedder
from index.store import ChunkRecord

COLLECTION_NAME = re.compile(COLLECTION_PATTERN)


class IndexBackend(Protocol):
    """Collections of documents, each chunk with its text, place, vector and BM25 terms.

    A document is seen whole or not at all: searches never return a chunk of a document whose
    write is in flight or half done.
    """

    embedder: Embedder

    def reading(self) -> AbstractContextManager[None]:
        """Hold the index still for several reads in a row, as far as the backend can."""
        ...

    def collections(self) -> list[str]: ...

    def stats(self) -> dict[str, tuple[int, int]]:
        """Collection -> (documents, chunks)."""
        ...

    def documents(self, collection: str | None = None) -> list[Document]: ...

    def find_document(self, collection: str, doc_id: str) -> Document | None: ...

    def document(self, collection: str, doc_id: str) -> Document:
        """The document, or NotFoundError."""
        ...

    def dense_search(
        self, collection: str, query: np.ndarray, k: int
    ) -> list[tuple[int, float]]: ...

    def lexical_search(self, collection: str, query: str, k: int) -> list[tuple[int, float]]: ...

    def chunks(self, ids: list[int]) -> dict[int, ChunkRecord]:
        """Chunk id -> its record, for the ids of documents that exist (others are left out)."""
        ...

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        """Chunk id -> its stored vector, for the ids that exist (the vector reranker's)."""
        ...

    def document_chunks(self, collection: str, doc_id: str) -> tuple[list[Chunk], np.ndarray]:
        """A document's chunks in order with their vectors (to copy it to another index)."""
        ...

    def add_document(
        self, collection: str, parsed: ParsedDocument, chunks: list[Chunk], vectors: np.ndarray
    ) -> Document: ...

    def import_document(
        self, document: Document, chunks: list[Chunk], vectors: np.ndarray
    ) -> Document:
        """Add a document read from another index, keeping its record (``added_at`` too)."""
        ...

    def delete_document(self, collection: str, doc_id: str) -> Document: ...

    def delete_collection(self, collection: str) -> list[Document]: ...

    def verify(self) -> list[str]:
        """What is inconsistent, if anything (an empty list: all is well)."""
        ...

    def problem(self) -> str | None:
        """Why the index cannot serve now, e.g. its server is unreachable (None: it can)."""
        ...

    def flush(self, force: bool = False) -> None: ...

    def close(self) -> None: ...


def check_collection_name(name: str) -> str:
    if not COLLECTION_NAME.match(name):
        raise InvalidRequestError(
            f"collection name must be 1-64 letters, digits, '-' or '_', got {name!r}"
        )
    return name


def check_chunks(doc: Document, chunks: list[Chunk], vectors: np.ndarray) -> None:
    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    if doc.chunks != len(chunks):
        raise ValueError(f"document {doc.id!r} says {doc.chunks} chunks, {len(chunks)} given")


def new_document(collection: str, parsed: ParsedDocument, chunks: list[Chunk]) -> Document:
    """The record of a document added now."""
    return Document(
        id=parsed.id,
        collection=collection,
        filename=parsed.filename,
        kind=parsed.kind,
        size_bytes=parsed.size_bytes,
        pages=len(parsed.pages),
        chunks=len(chunks),
        added_at=datetime.now(UTC).replace(microsecond=0),  # as the store keeps it
    )


def document_or_404(index: IndexBackend, collection: str, doc_id: str) -> Document:
    doc = index.find_document(collection, doc_id)
    if doc is None:
        raise NotFoundError.said(
            "errors.no_document", document=repr(doc_id), collection=repr(collection)
        )
    return doc


def iter_documents(index: IndexBackend) -> Iterator[tuple[Document, list[Chunk], np.ndarray]]:
    """Every document of every collection with its chunks and vectors, one at a time."""
    for doc in index.documents():
        chunks, vectors = index.document_chunks(doc.collection, doc.id)
        yield doc, chunks, vectors


Opener = Callable[[Settings, Embedder], IndexBackend]
# The built-in backends by reference (``KBQA_INDEX__BACKEND``): loaded when picked, so this module
# imports neither and they may import it. ``BACKENDS.add`` takes another.
BACKENDS: Registry[Opener] = Registry(
    "index backend", {"local": "index.knowledge:open_local", "milvus": "index.milvus:open_milvus"}
)


def open_index(settings: Settings, embedder: Embedder) -> IndexBackend:
    """The index that ``settings.index.backend`` names, opened."""
    return BACKENDS.get(settings.index.backend)(settings, embedder)
