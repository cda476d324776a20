"""A local index moved into Milvus through an export file: the same documents, ranked the same."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.errors import IndexMismatchError, InvalidRequestError
from core.settings import Settings, get_settings
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.milvus import MilvusIndex
from index.transfer import export_index, import_index
from tests.utils.documents import add_text_document
from tests.utils.milvus import MilvusServer
from tests.utils.pdfs import make_text_pdf

TEXTS = {
    "zoo": ["zebras live in africa", "penguins live in antarctica", "北京是中国的首都。"],
    "space": ["jupiter is the largest planet", "mars is red"],
}


@pytest.fixture
def local(settings: Settings) -> KnowledgeIndex:
    index = KnowledgeIndex(settings.data_dir, FakeEmbedder())
    for doc_id, texts in TEXTS.items():
        add_text_document(index, "animals" if doc_id == "zoo" else "planets", doc_id, texts)
    return index


def _rankings(index: object, collection: str, query: str) -> tuple[list, list]:
    """The dense scores (the same vectors give the same scores; ties may order either way) and
    the lexical ranking, as (document, ordinal) best first."""
    assert isinstance(index, KnowledgeIndex | MilvusIndex)
    dense = index.dense_search(collection, index.embedder.embed_query(query), 5)
    lexical = index.lexical_search(collection, query, 5)
    records = index.chunks([i for i, _ in lexical])
    order = [(records[i].chunk.document_id, records[i].chunk.ordinal) for i, _ in lexical]
    return [round(score, 5) for _, score in dense], order


def test_a_local_index_moves_into_milvus(
    local: KnowledgeIndex, milvus_server: MilvusServer, tmp_path: Path
) -> None:
    path = tmp_path / "kb.jsonl.gz"
    assert export_index(local, path).documents == 2
    target = MilvusIndex(milvus_server.settings(), FakeEmbedder())
    try:
        moved = import_index(target, path)
        assert (moved.documents, moved.chunks, moved.skipped) == (2, 5, 0)
        assert target.documents() == local.documents()
        assert target.stats() == local.stats()
        for collection, query in (("animals", "where do penguins live"), ("animals", "中国首都")):
            assert _rankings(target, collection, query) == _rankings(local, collection, query)
        assert target.verify() == []
        again = import_index(target, path)  # an interrupted import, run again
        assert (again.documents, again.skipped) == (0, 2)
    finally:
        target.close()
        local.close()


def test_an_export_of_another_embedding_model_is_refused(
    local: KnowledgeIndex, tmp_path: Path
) -> None:
    path = tmp_path / "kb.jsonl.gz"
    export_index(local, path)
    other = KnowledgeIndex(tmp_path / "other", FakeEmbedder(dim=32))
    try:
        with pytest.raises(IndexMismatchError, match="embedding model"):
            import_index(other, path)
        path.write_bytes(gzip.compress(b'{"something": "else"}\n'))
        with pytest.raises(InvalidRequestError, match="not a kbqa index export"):
            import_index(other, path)
        assert other.documents() == []
    finally:
        other.close()
        local.close()


def test_kbqa_index_export_then_import_into_milvus(
    tmp_path: Path, milvus_server: MilvusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KBQA_EMBEDDING__BACKEND", "fake")
    monkeypatch.setenv("KBQA_INGEST__ISOLATE", "false")
    pdf = make_text_pdf(
        tmp_path / "harbour.pdf", ["The old harbour was built in 1850."], font="core"
    )
    runner, path = CliRunner(), tmp_path / "kb.jsonl.gz"
    get_settings.cache_clear()
    try:
        assert runner.invoke(app, ["ingest", str(pdf)]).exit_code == 0
        exported = runner.invoke(app, ["index", "export", str(path)])
        assert exported.exit_code == 0, exported.output
        assert "exported 1 documents" in exported.output
        settings = milvus_server.settings()
        monkeypatch.setenv("KBQA_INDEX__BACKEND", settings.backend)
        monkeypatch.setenv("KBQA_INDEX__MILVUS__URI", settings.milvus.uri)
        monkeypatch.setenv("KBQA_INDEX__MILVUS__PREFIX", settings.milvus.prefix)
        get_settings.cache_clear()
        imported = runner.invoke(app, ["index", "import", str(path)])
        assert imported.exit_code == 0, imported.output
        assert "imported 1 documents" in imported.output
        found = runner.invoke(app, ["search", "When was the old harbour built?", "--json"])
        assert found.exit_code == 0, found.output
        assert "harbour.pdf" in found.output
    finally:
        get_settings.cache_clear()
