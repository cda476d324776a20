from __future__ import annotations

import threading
from pathlib import Path

import pytest

from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.lexical import LexicalIndex
from tests.utils.documents import add_text_document

_add = add_text_document


def _dense_ids(index: KnowledgeIndex, collection: str, query: str) -> set[int]:
    return {i for i, _ in index.dense_search(collection, index.embedder.embed_query(query), 100)}


# What every backend does is in test_backends.py; here, what the local one does besides.


def test_delete_leaves_no_row_in_the_store(index: KnowledgeIndex) -> None:
    _add(index, "c", "doc1", ["zebras live in africa"])
    index.delete_document("c", "doc1")
    count = "SELECT COUNT(*) FROM chunks WHERE document_id='doc1'"
    assert index.store.db.execute(count).fetchone()[0] == 0


def test_reopen_loads_the_saved_vectors(tmp_path: Path) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _add(index, "c", "doc1", ["zebras live in africa", "penguins live in antarctica"])
    expected = _dense_ids(index, "c", "penguins")
    index.close()
    assert (tmp_path / "vectors" / "c.faiss").exists()
    reopened = KnowledgeIndex(tmp_path, FakeEmbedder())
    assert _dense_ids(reopened, "c", "penguins") == expected
    assert len(reopened._collection("c").vectors) == 2
    reopened.close()


def test_unsaved_vectors_are_rebuilt_after_a_crash(tmp_path: Path) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _add(index, "c", "doc1", ["zebras live in africa"])
    index.close()
    crashed = KnowledgeIndex(tmp_path, FakeEmbedder())
    _add(crashed, "c", "doc2", ["penguins live in antarctica"])
    crashed.store.close()  # no flush: the FAISS file on disk is one generation behind
    reopened = KnowledgeIndex(tmp_path, FakeEmbedder())
    assert len(reopened._collection("c").vectors) == 2
    reopened.close()


def test_tokens_of_an_older_tokenizer_are_rebuilt(tmp_path: Path) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _add(index, "c", "doc1", ["penguins live in antarctica"])
    with index.store.transaction() as db:
        db.execute("UPDATE chunks SET tokens = 'stale'")
        index.store.set_meta("tokenizer", "0-old")
    index.close()
    reopened = KnowledgeIndex(tmp_path, FakeEmbedder())
    assert reopened.lexical_search("c", "penguins", 5)
    assert reopened.store.get_meta("tokenizer") != "0-old"
    reopened.close()


@pytest.mark.parametrize("change", ["add", "delete"])
def test_readers_do_not_wait_while_a_writer_commits_bm25(
    index: KnowledgeIndex, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    _add(index, "c", "doc1", ["zebras live in africa"])
    _add(index, "c", "doc2", ["penguins live in antarctica"])
    assert index.lexical_search("c", "zebras", 5)
    committing, release = threading.Event(), threading.Event()
    original = LexicalIndex.commit

    def held_commit(self: LexicalIndex, *args: object, **kwargs: object) -> object:
        if threading.current_thread().name == "writer":
            committing.set()
            assert release.wait(30)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LexicalIndex, "commit", held_commit)

    def write() -> None:
        if change == "add":
            _add(index, "c", "doc3", ["zebras also live in zoos"])
        else:
            index.delete_document("c", "doc1")

    def lexical_docs() -> set[str]:
        hits = index.lexical_search("c", "zebras", 5)
        return {r[2].document_id for r in index.chunks([i for i, _ in hits]).values()}

    writer = threading.Thread(target=write, name="writer")
    writer.start()
    assert committing.wait(30)
    results: list[int] = []
    seen: list[set[str]] = []
    reader = threading.Thread(
        target=lambda: (
            results.extend(_dense_ids(index, "c", "zebras")),
            seen.append(lexical_docs()),
        )
    )
    reader.start()
    reader.join(timeout=30)  # held on the writer's BM25 commit, it would never finish
    finished = not reader.is_alive()
    release.set()
    writer.join()
    assert finished, "a search waited for a writer's BM25 commit"
    assert len(results) == 2  # the index before the change: doc1 and doc2
    assert seen == [{"doc1"}]
    assert lexical_docs() == ({"doc1", "doc3"} if change == "add" else set())
