"""What the Milvus backend does besides the shared behaviour (test_backends.py): derived chunk
keys, a document hidden until whole, the settings that point at a server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.errors import IndexUnavailableError
from core.settings import IndexSettings, Settings
from core.types import Chunk, Page, ParsedDocument
from index.embedders import FakeEmbedder
from index.milvus import MilvusIndex, chunk_key
from tests.utils.milvus import MilvusServer

TEXTS = ["zebras live in africa", "penguins live in antarctica", "zebras eat grass"]


@pytest.fixture
def milvus(milvus_server: MilvusServer) -> MilvusIndex:
    index = MilvusIndex(milvus_server.settings(), FakeEmbedder())
    yield index  # type: ignore[misc]
    index.close()


def _document(doc_id: str, texts: list[str]) -> tuple[ParsedDocument, list[Chunk]]:
    parsed = ParsedDocument(
        id=doc_id, filename=f"{doc_id}.txt", kind="text", size_bytes=1,
        pages=[Page(number=1, text=" ".join(texts))],
    )  # fmt: skip
    chunks = [
        Chunk(document_id=doc_id, ordinal=i, text=t, page_start=1, page_end=1, char_start=0,
              char_end=len(t))
        for i, t in enumerate(texts)
    ]  # fmt: skip
    return parsed, chunks


def test_chunk_keys_are_derived_from_collection_document_and_position() -> None:
    assert chunk_key("c", "doc", 0) == chunk_key("c", "doc", 0)
    keys = {chunk_key(c, d, i) for c in ("c", "d") for d in ("doc1", "doc2") for i in range(50)}
    assert len(keys) == 200
    assert all(0 < k < 2**63 for k in keys)


def test_a_document_cut_short_stays_hidden_and_is_redone_without_copies(
    milvus: MilvusIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed, chunks = _document("doc1", TEXTS)
    vectors = milvus.embedder.embed(TEXTS)
    real_upsert = milvus.client.upsert

    def fail_on_the_catalog(name: str, rows: list[dict[str, Any]], **kwargs: Any) -> Any:
        if name == milvus.catalog_name and rows[0]["kind"] == "document":
            from pymilvus import MilvusException

            raise MilvusException(message="the server went away")
        return real_upsert(name, rows, **kwargs)

    monkeypatch.setattr(milvus.client, "upsert", fail_on_the_catalog)
    with pytest.raises(IndexUnavailableError, match="adding 'doc1.txt' failed"):
        milvus.add_document("c", parsed, chunks, vectors)
    monkeypatch.setattr(milvus.client, "upsert", real_upsert)
    # Every chunk is in Milvus, none is seen: the catalog has no such document.
    assert milvus.lexical_search("c", "zebras", 10) == []
    assert milvus.dense_search("c", milvus.embedder.embed_query("zebras"), 10) == []
    assert milvus.find_document("c", "doc1") is None
    assert milvus.verify() == ["c: 3 chunks of documents not in the catalog"]
    milvus.add_document("c", parsed, chunks, vectors)  # the job, run again
    assert milvus.verify() == []
    assert len(milvus.lexical_search("c", "zebras", 10)) == 2


def test_a_shorter_rewrite_of_a_document_leaves_no_stale_chunk(milvus: MilvusIndex) -> None:
    parsed, chunks = _document("doc1", TEXTS)
    milvus.add_document("c", parsed, chunks, milvus.embedder.embed(TEXTS))
    parsed, chunks = _document("doc1", TEXTS[:1])  # e.g. re-chunked with other settings
    milvus.add_document("c", parsed, chunks, milvus.embedder.embed(TEXTS[:1]))
    assert milvus.verify() == []
    assert milvus.lexical_search("c", "penguins", 10) == []


def test_a_chunk_too_long_for_milvus_is_refused_by_name(milvus: MilvusIndex) -> None:
    text = "word " * 14_000  # 70,000 bytes: past Milvus's 65,535-byte VARCHAR
    parsed, chunks = _document("big", [text])
    with pytest.raises(ValueError, match="chunk 0 of 'big.txt'.*chunk_size"):
        milvus.add_document("c", parsed, chunks, milvus.embedder.embed([text]))
    assert milvus.documents() == []


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValidationError, match="not both"):
        IndexSettings(milvus={"token": "t", "user": "u", "password": "p"})
    with pytest.raises(ValidationError, match="go together"):
        IndexSettings(milvus={"user": "u"})
    with pytest.raises(ValidationError, match="milvus.prefix"):
        IndexSettings(milvus={"prefix": "no spaces"})


def test_the_milvus_settings_nest_and_their_flat_names_still_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KBQA_INDEX__MILVUS__URI", "http://new:19530")
    monkeypatch.setenv("KBQA_INDEX__MILVUS__EF", "64")
    assert Settings().index.milvus.uri == "http://new:19530"
    monkeypatch.delenv("KBQA_INDEX__MILVUS__URI")
    monkeypatch.setenv("KBQA_INDEX__MILVUS_URI", "http://old:19530")
    monkeypatch.setenv("KBQA_INDEX__MILVUS_PREFIX", "shared")
    with pytest.warns(DeprecationWarning, match="KBQA_INDEX__MILVUS_URI is deprecated: use ") as w:
        milvus = Settings().index.milvus
    assert (milvus.uri, milvus.prefix, milvus.ef) == ("http://old:19530", "shared", 64)
    assert "KBQA_INDEX__MILVUS__URI" in str(w[0].message)
    monkeypatch.setenv("KBQA_INDEX__MILVUS__URI", "http://new:19530")  # the new name wins
    with pytest.warns(DeprecationWarning, match="MILVUS_URI is deprecated"):
        assert Settings().index.milvus.uri == "http://new:19530"


def test_more_rows_than_one_query_returns_are_read_page_by_page(
    milvus: MilvusIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.milvus as milvus_module

    monkeypatch.setattr(milvus_module, "_QUERY_MAX", 2)
    monkeypatch.setattr(milvus_module, "_PAGE", 2)
    for n in range(5):
        parsed, chunks = _document(f"doc{n}", TEXTS)
        milvus.add_document("c", parsed, chunks, milvus.embedder.embed(TEXTS))
    assert [d.id for d in milvus.documents("c")] == [f"doc{n}" for n in range(5)]
    assert milvus.stats() == {"c": (5, 15)}
    assert milvus.verify() == []
