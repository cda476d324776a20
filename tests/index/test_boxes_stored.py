"""Chunks' boxes are kept by both index backends, by an export and import, and an index
written before boxes existed still opens, its chunks without them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from core.types import Box, Chunk, Page, ParsedDocument
from index.backend import IndexBackend
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.milvus import MilvusIndex
from index.transfer import export_index, import_index
from tests.utils.milvus import MilvusServer

TEXTS = ["zebras live in africa", "penguins live in antarctica"]


def _boxes(ordinal: int) -> list[Box]:
    return [
        Box(page=2, x0=0.1, y0=0.2 + ordinal / 10, x1=0.9, y1=0.22 + ordinal / 10, start=0, end=9),
        Box(page=2, x0=0.1, y0=0.25, x1=0.4, y1=0.27, start=10, end=21),
    ]


def _add(index: IndexBackend, doc_id: str = "doc", boxes: bool = True) -> list[Chunk]:
    parsed = ParsedDocument(id=doc_id, filename=f"{doc_id}.pdf", kind="pdf", size_bytes=1,
                            pages=[Page(number=2, text=" ".join(TEXTS))])  # fmt: skip
    chunks = [
        Chunk(
            document_id=doc_id,
            ordinal=i,
            text=t,
            page_start=2,
            page_end=2,
            char_start=0,
            char_end=len(t),
            boxes=_boxes(i) if boxes else [],
        )  # fmt: skip
        for i, t in enumerate(TEXTS)
    ]
    index.add_document("c", parsed, chunks, index.embedder.embed(TEXTS))
    return chunks


def test_boxes_come_back_with_their_chunks(backend: IndexBackend) -> None:
    added = _add(backend)
    chunks, _ = backend.document_chunks("c", "doc")
    assert [c.boxes for c in chunks] == [c.boxes for c in added]
    ids = [i for i, _ in backend.lexical_search("c", "penguins", 1)]
    (record,) = backend.chunks(ids).values()
    assert record.chunk.boxes == _boxes(1)


def test_chunks_without_boxes_have_none(backend: IndexBackend) -> None:
    _add(backend, boxes=False)
    chunks, _ = backend.document_chunks("c", "doc")
    assert [c.boxes for c in chunks] == [[], []]


def test_boxes_survive_an_export_and_import(
    index: KnowledgeIndex, milvus_server: MilvusServer, tmp_path: Path
) -> None:
    added = _add(index)
    export_index(index, tmp_path / "kb.jsonl.gz")
    target = MilvusIndex(milvus_server.settings(), FakeEmbedder())
    try:
        import_index(target, tmp_path / "kb.jsonl.gz")
        chunks, _ = target.document_chunks("c", "doc")
        assert [c.boxes for c in chunks] == [c.boxes for c in added]
    finally:
        target.close()


def test_a_sqlite_store_of_before_boxes_is_migrated(tmp_path: Path) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _add(index, "old", boxes=False)
    index.close()
    with sqlite3.connect(tmp_path / "kbqa.sqlite3") as db:  # as an older kbqa wrote it
        db.execute("ALTER TABLE chunks DROP COLUMN boxes")
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    try:
        assert [c.boxes for c in index.document_chunks("c", "old")[0]] == [[], []]
        _add(index, "new")
        assert index.document_chunks("c", "new")[0][1].boxes == _boxes(1)
    finally:
        index.close()


def test_milvus_collections_of_before_boxes_still_work(
    milvus_server: MilvusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = milvus_server.settings()
    build = MilvusIndex._chunk_schema

    def without_boxes(self: MilvusIndex) -> tuple[Any, Any]:
        schema, indexes = build(self)
        schema.fields[:] = [f for f in schema.fields if f.name != "boxes"]
        return schema, indexes

    monkeypatch.setattr(MilvusIndex, "_chunk_schema", without_boxes)
    old = MilvusIndex(settings, FakeEmbedder())
    assert "boxes" not in old._fields
    _add(old, "old", boxes=False)
    old.close()
    monkeypatch.undo()
    index = MilvusIndex(settings, FakeEmbedder())
    assert "boxes" not in index._fields
    try:
        _add(index, "new")  # written without its boxes: there is no field for them
        assert [c.boxes for c in index.document_chunks("c", "new")[0]] == [[], []]
        assert len(index.document_chunks("c", "old")[0]) == 2
    finally:
        index.close()
