"""What every index backend does, run on each (the ``backend`` fixture): local and Milvus."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import IndexMismatchError, NotFoundError
from core.settings import Settings
from core.types import ParsedDocument
from index.backend import IndexBackend, iter_documents
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.milvus import MilvusIndex
from ingest.pipeline import Ingestor
from tests.utils.documents import add_text_document

_add = add_text_document


def _reopen(index: IndexBackend, embedder: FakeEmbedder | None = None) -> IndexBackend:
    """The same index opened again (another process, for Milvus), on ``embedder``."""
    embedder = embedder or FakeEmbedder()
    if isinstance(index, MilvusIndex):
        return MilvusIndex(index.settings, embedder)
    assert isinstance(index, KnowledgeIndex)
    return KnowledgeIndex(index.data_dir, embedder)


def _dense_ids(index: IndexBackend, collection: str, query: str) -> set[int]:
    return {i for i, _ in index.dense_search(collection, index.embedder.embed_query(query), 100)}


def _lexical_docs(index: IndexBackend, collection: str, query: str) -> set[str]:
    hits = index.lexical_search(collection, query, 50)
    return {r.chunk.document_id for r in index.chunks([i for i, _ in hits]).values()}


def test_add_then_search_both_ways(backend: IndexBackend) -> None:
    _add(backend, "c", "doc1", ["zebras live in africa", "penguins live in antarctica"])
    top_dense = backend.dense_search("c", backend.embedder.embed_query("penguins antarctica"), 1)
    top_lexical = backend.lexical_search("c", "where do penguins live", 1)
    chunks = backend.chunks([top_dense[0][0], top_lexical[0][0]])
    assert all("penguins" in record.chunk.text for record in chunks.values())
    assert top_lexical[0][1] > 0  # BM25 scores are positive on every backend
    record = next(iter(chunks.values()))
    assert (record.collection, record.filename, record.chunk.page_start) == ("c", "doc1.txt", 1)


def test_chinese_is_searched_by_character_bigrams(backend: IndexBackend) -> None:
    _add(backend, "c", "sh", ["上海位于长江入海口。"])
    _add(backend, "c", "bj", ["北京是中国的首都。"])
    hits = backend.lexical_search("c", "中国的首都是哪里", 5)
    assert backend.chunks([hits[0][0]])[hits[0][0]].chunk.document_id == "bj"


def test_documents_and_stats(backend: IndexBackend) -> None:
    _add(backend, "c", "doc1", ["zebras live in africa", "they eat grass"])
    _add(backend, "d", "doc2", ["penguins live in antarctica"])
    assert [d.id for d in backend.documents()] == ["doc1", "doc2"]
    assert [d.id for d in backend.documents("d")] == ["doc2"]
    assert backend.stats() == {"c": (1, 2), "d": (1, 1)}
    assert backend.document("c", "doc1").chunks == 2
    assert backend.find_document("c", "doc2") is None
    with pytest.raises(NotFoundError):
        backend.document("c", "nope")


def test_delete_removes_every_trace(backend: IndexBackend) -> None:
    _add(backend, "c", "doc1", ["zebras live in africa"])
    _add(backend, "c", "doc2", ["penguins live in antarctica"])
    removed = backend.delete_document("c", "doc1")
    assert removed.id == "doc1"
    assert [d.id for d in backend.documents("c")] == ["doc2"]
    assert backend.lexical_search("c", "zebras", 10) == []
    remaining = backend.chunks(list(_dense_ids(backend, "c", "zebras africa")))
    assert {r.chunk.document_id for r in remaining.values()} == {"doc2"}
    assert backend.verify() == []
    with pytest.raises(NotFoundError):
        backend.delete_document("c", "doc1")


def test_collections_are_separate(backend: IndexBackend) -> None:
    _add(backend, "one", "doc1", ["zebras live in africa"])
    _add(backend, "two", "doc2", ["penguins live in antarctica"])
    assert backend.lexical_search("one", "penguins", 10) == []
    assert backend.lexical_search("nowhere", "penguins", 10) == []
    assert backend.collections() == ["one", "two"]
    with pytest.raises(ValueError, match="collection name"):
        _add(backend, "../etc", "doc3", ["x"])


def test_the_same_document_in_two_collections_is_two_documents(backend: IndexBackend) -> None:
    _add(backend, "one", "doc1", ["zebras live in africa"])
    _add(backend, "two", "doc1", ["zebras live in africa"])
    backend.delete_document("one", "doc1")
    assert _lexical_docs(backend, "two", "zebras") == {"doc1"}
    assert backend.stats() == {"one": (0, 0), "two": (1, 1)}


def test_delete_collection(backend: IndexBackend) -> None:
    _add(backend, "one", "doc1", ["zebras live in africa"])
    _add(backend, "two", "doc2", ["penguins live in antarctica"])
    assert [d.id for d in backend.delete_collection("one")] == ["doc1"]
    assert backend.collections() == ["two"]
    assert backend.lexical_search("one", "zebras", 10) == []
    with pytest.raises(NotFoundError):
        backend.delete_collection("one")
    _add(backend, "one", "doc3", ["zebras again"])  # the name can be used again
    assert _lexical_docs(backend, "one", "zebras") == {"doc3"}


def test_what_was_written_is_there_when_opened_again(backend: IndexBackend) -> None:
    _add(backend, "c", "doc1", ["zebras live in africa", "penguins live in antarctica"])
    expected = _dense_ids(backend, "c", "penguins")
    backend.close()
    reopened = _reopen(backend)
    try:
        assert _dense_ids(reopened, "c", "penguins") == expected
        assert _lexical_docs(reopened, "c", "penguins") == {"doc1"}
        assert reopened.verify() == []
    finally:
        reopened.close()
    backend.__init__(*_args(backend))  # type: ignore[misc]  # the fixture closes it again


def _args(index: IndexBackend) -> tuple[object, ...]:
    if isinstance(index, MilvusIndex):
        return (index.settings, FakeEmbedder())
    assert isinstance(index, KnowledgeIndex)
    return (index.data_dir, FakeEmbedder())


def test_another_embedding_model_is_refused(backend: IndexBackend) -> None:
    with pytest.raises(IndexMismatchError, match="embedding model"):
        _reopen(backend, FakeEmbedder(dim=32))


def test_vectors_must_match_chunks(backend: IndexBackend) -> None:
    parsed = ParsedDocument(id="d", filename="d.txt", kind="text", size_bytes=1, pages=[])
    with pytest.raises(ValueError, match="vectors"):
        backend.add_document("c", parsed, [], np.zeros((1, backend.embedder.dim), np.float32))
    assert backend.documents() == []


def test_a_file_ingested_twice_is_one_document(backend: IndexBackend, settings: Settings) -> None:
    ingestor = Ingestor(settings.ingest, backend)
    data = b"Zebras live on the African savanna.\fPenguins live in Antarctica."
    first = ingestor.ingest_bytes(data, "zoo.txt", "c")
    again = ingestor.ingest_bytes(data, "copy.txt", "c")
    assert first.created
    assert not again.created
    assert again.document.id == first.document.id
    assert backend.stats() == {"c": (1, first.document.chunks)}


def test_a_document_copies_whole_to_another_backend(
    backend: IndexBackend, settings: Settings
) -> None:
    _add(backend, "c", "doc1", ["zebras live in africa", "penguins live in antarctica"])
    target = KnowledgeIndex(settings.data_dir / "copy", FakeEmbedder())
    try:
        for doc, chunks, vectors in iter_documents(backend):
            target.import_document(doc, chunks, vectors)
        assert target.documents() == backend.documents()
        chunks, vectors = target.document_chunks("c", "doc1")
        assert [c.text for c in chunks] == ["zebras live in africa", "penguins live in antarctica"]
        np.testing.assert_allclose(vectors, backend.embedder.embed([c.text for c in chunks]))
        assert _lexical_docs(target, "c", "penguins") == {"doc1"}
    finally:
        target.close()
