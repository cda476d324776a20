"""A chunk's heading is kept by both backends and read by search with its text: a passage deep
in a section is found by the subject its heading names. An index written before headings
existed still opens, and re-tokenizing or re-embedding reads the heading too."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from core.types import Chunk, Page, ParsedDocument
from index.backend import IndexBackend
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.milvus import MilvusIndex
from tests.utils.milvus import MilvusServer

TEXTS = ["Coelorinchus smithi is a rattail.", "It lives on muddy sand floors.", "Nothing else."]
HEADINGS = ["Coelorinchus smithi", "Coelorinchus smithi", None]


def _add(index: IndexBackend, doc_id: str = "doc", headings: bool = True) -> list[Chunk]:
    parsed = ParsedDocument(id=doc_id, filename=f"{doc_id}.pdf", kind="pdf", size_bytes=1,
                            pages=[Page(number=1, text=" ".join(TEXTS))])  # fmt: skip
    chunks = [
        Chunk(
            document_id=doc_id,
            ordinal=i,
            text=t,
            page_start=1,
            page_end=1,
            char_start=0,
            char_end=len(t),
            heading=h if headings else None,
        )  # fmt: skip
        for i, (t, h) in enumerate(zip(TEXTS, HEADINGS, strict=True))
    ]
    vectors = index.embedder.embed([c.indexed_text for c in chunks])
    index.add_document("c", parsed, chunks, vectors)
    return chunks


def test_indexed_text_puts_the_heading_before_the_text_once() -> None:
    first, second, third = [
        Chunk(
            document_id="d",
            ordinal=i,
            text=t,
            page_start=1,
            page_end=1,
            char_start=0,
            char_end=len(t),
            heading=h,
        )  # fmt: skip
        for i, (t, h) in enumerate(zip(TEXTS, HEADINGS, strict=True))
    ]
    assert first.indexed_text == first.text  # it begins with its heading already
    assert second.indexed_text == "Coelorinchus smithi\nIt lives on muddy sand floors."
    assert third.indexed_text == third.text


def test_a_passage_is_found_by_its_heading(backend: IndexBackend) -> None:
    _add(backend)
    ids = [i for i, _ in backend.lexical_search("c", "muddy floors Coelorinchus", 3)]
    records = backend.chunks(ids)
    assert records[ids[0]].chunk.text == TEXTS[1]
    assert [c.heading for c in backend.document_chunks("c", "doc")[0]] == HEADINGS


def test_a_sqlite_store_of_before_headings_is_migrated(tmp_path: Path) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _add(index, "old", headings=False)
    index.close()
    with sqlite3.connect(tmp_path / "kbqa.sqlite3") as db:  # as an older kbqa wrote it
        db.execute("ALTER TABLE chunks DROP COLUMN heading")
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    try:
        assert [c.heading for c in index.document_chunks("c", "old")[0]] == [None] * 3
        _add(index, "new")
        assert [c.heading for c in index.document_chunks("c", "new")[0]] == HEADINGS
    finally:
        index.close()


def test_retokenizing_and_reembedding_read_the_heading(tmp_path: Path) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _add(index)
    with index.store.transaction() as db:
        db.execute("UPDATE chunks SET tokens = 'stale'")
        index.store.set_meta("tokenizer", "0-old")
    index.close()
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    try:
        (tokens,) = index.store.db.execute("SELECT tokens FROM chunks WHERE ordinal = 1").fetchone()
        assert tokens.split()[:2] == ["coelorinchus", "smithi"]
        index.store.begin_reembed("another 8")
        assert index.store.unstaged_texts(3)[1][1] == "Coelorinchus smithi\n" + TEXTS[1]
    finally:
        index.close()


def test_milvus_collections_of_before_headings_still_work(
    milvus_server: MilvusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = milvus_server.settings()
    build = MilvusIndex._chunk_schema

    def without_headings(self: MilvusIndex) -> tuple[Any, Any]:
        schema, indexes = build(self)
        schema.fields[:] = [f for f in schema.fields if f.name != "heading"]
        return schema, indexes

    monkeypatch.setattr(MilvusIndex, "_chunk_schema", without_headings)
    old = MilvusIndex(settings, FakeEmbedder())
    _add(old, "old", headings=False)
    old.close()
    monkeypatch.undo()
    index = MilvusIndex(settings, FakeEmbedder())
    try:
        assert "heading" not in index._fields
        _add(index, "new")  # searched by its headings, stored without them: no field for them
        assert [c.heading for c in index.document_chunks("c", "new")[0]] == [None] * 3
        assert len(index.document_chunks("c", "old")[0]) == 3
    finally:
        index.close()
