"""The lexical index: kbqa's tokens in tantivy, updated per document, repaired by difference."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

import index.lexical as lexical_module
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.lexical import Held, LexicalIndex, LexicalSearcher, tokenize
from tests.utils.documents import add_text_document


def test_english_tokens_drop_stopwords() -> None:
    assert tokenize("What is the Capital of France?") == ["capital", "france"]


def test_cjk_runs_become_bigrams() -> None:
    assert tokenize("北京的首都，好") == ["北京", "京的", "的首", "首都", "好"]
    assert tokenize("Tokyo 東京タワー") == ["tokyo", "東京", "京タ", "タワ", "ワー"]
    assert tokenize("nexon开发与发行") == ["nexon", "开发", "发与", "与发", "发行"]


def _held(generation: int = 1) -> Held:
    return Held(generation, 0, 0, True, "test")


def test_bm25_ranks_chinese(tmp_path: Path) -> None:
    texts = ["上海位于长江入海口。", "北京是中国的首都。", "广州是南方的城市。"]
    index = LexicalIndex(tmp_path)
    rows = [(i, " ".join(tokenize(t))) for i, t in zip([10, 20, 30], texts, strict=True)]
    index.searcher = index.commit(_held(), add=rows)
    assert index.searcher.search("中国的首都是哪里", 3)[0][0] == 20
    index.close()


def test_empty_index_and_query(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    assert index.searcher.search("anything", 5) == []
    index.searcher = index.commit(_held(), add=[(1, "word")])
    assert index.searcher.search("the", 5) == []  # only a stopword
    assert index.searcher.search("word", 0) == []
    assert index.searcher.chunk_ids().tolist() == [1]
    index.close()


def test_a_searcher_is_a_snapshot(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    before = index.commit(_held(1), add=[(1, "zebra")])
    after = index.commit(_held(2), add=[(2, "zebra zebra")], remove=[1])
    assert [i for i, _ in before.search("zebra", 5)] == [1]
    assert [i for i, _ in after.search("zebra", 5)] == [2]
    assert after.held() == _held(2)
    index.close()


# -- through KnowledgeIndex ------------------------------------------------------------------


_add = add_text_document


def _docs(index: KnowledgeIndex, query: str) -> set[str]:
    hits = index.lexical_search("c", query, 50)
    return {record[2].document_id for record in index.chunks([i for i, _ in hits]).values()}


def _corpus(index: KnowledgeIndex, n: int) -> None:
    for d in range(n):
        _add(index, "c", f"doc{d}", [f"topic{d} common words", f"more common text {d}"])


def test_adding_a_document_reads_no_other_documents_tokens(
    index: KnowledgeIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    _corpus(index, 20)
    assert _docs(index, "topic3") == {"doc3"}
    statements: list[str] = []
    index.store.db.set_trace_callback(statements.append)
    commits: list[tuple[list, list]] = []
    original = LexicalIndex.commit

    def spy(self: LexicalIndex, held: Held, add=(), remove=()) -> LexicalSearcher:  # type: ignore[no-untyped-def]
        add, remove = list(add), list(remove)
        commits.append((add, remove))
        return original(self, held, add=add, remove=remove)

    monkeypatch.setattr(LexicalIndex, "commit", spy)
    _add(index, "c", "new", ["penguins in antarctica", "penguins on ice"])
    index.delete_document("c", "doc5")
    index.store.db.set_trace_callback(None)
    # The store is asked for no chunk's tokens, and tantivy gets exactly the change.
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT") and "tokens" in s]
    assert [len(a) for a, _ in commits] == [2, 0]
    assert [len(r) for _, r in commits] == [0, 2]
    assert _docs(index, "penguins") == {"new"}
    assert _docs(index, "topic5") == set()
    assert index.verify() == []


def test_deleted_documents_leave_lexical_results_for_good(tmp_path: Path) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _add(index, "c", "doc1", ["zebras live in africa"])
    _add(index, "c", "doc2", ["zebras live in zoos"])
    index.delete_document("c", "doc1")
    assert _docs(index, "zebras") == {"doc2"}
    index.close()
    reopened = KnowledgeIndex(tmp_path, FakeEmbedder())
    assert _docs(reopened, "zebras") == {"doc2"}
    reopened.delete_collection("c")
    assert reopened.lexical_search("c", "zebras", 5) == []
    _add(reopened, "c", "doc3", ["zebras again"])  # a new collection of the same name
    assert _docs(reopened, "zebras") == {"doc3"}
    assert reopened.verify() == []
    reopened.close()


def test_chinese_is_searched_by_character_bigrams(index: KnowledgeIndex) -> None:
    _add(index, "c", "sh", ["上海位于长江入海口。"])
    _add(index, "c", "bj", ["北京是中国的首都。"])
    hits = index.lexical_search("c", "中国的首都是哪里", 5)
    assert index.chunks([hits[0][0]])[hits[0][0]][2].document_id == "bj"


def test_an_index_from_before_the_lexical_engine_is_migrated_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _corpus(index, 10)
    index.close()
    # An older kbqa kept only the token rows in SQLite: no lexical directory.
    shutil.rmtree(tmp_path / "lexical")
    monkeypatch.setattr(lexical_module, "_BATCH", 4)  # 20 chunks: five commits
    original, commits = LexicalIndex.commit, []

    def dies_on_the_third(self: LexicalIndex, held: Held, add=(), remove=()) -> LexicalSearcher:  # type: ignore[no-untyped-def]
        commits.append(held)
        if len(commits) == 3:
            raise KeyboardInterrupt  # killed half way through the build
        return original(self, held, add=add, remove=remove)

    monkeypatch.setattr(LexicalIndex, "commit", dies_on_the_third)
    interrupted = KnowledgeIndex(tmp_path, FakeEmbedder())
    with pytest.raises(KeyboardInterrupt):
        interrupted.lexical_search("c", "topic3", 5)
    interrupted.close()
    held = LexicalIndex(tmp_path / "lexical" / "c").held()
    assert held is not None
    assert not held.complete  # two batches in, eight chunks

    fetched: list[int] = []
    token_rows = type(interrupted.store).token_rows

    def spy(store, collection, first, last, limit):  # type: ignore[no-untyped-def]
        fetched.append(first)
        return token_rows(store, collection, first, last, limit)

    monkeypatch.setattr(type(interrupted.store), "token_rows", spy)
    monkeypatch.setattr(LexicalIndex, "commit", original)
    resumed = KnowledgeIndex(tmp_path, FakeEmbedder())
    assert _docs(resumed, "topic3") == {"doc3"}
    assert fetched[0] == held.span_hi + 1  # carried on where it stopped
    assert resumed.verify() == []
    resumed.close()


@pytest.mark.parametrize("change", ["add", "delete"])
def test_a_crash_between_the_two_commits_is_repaired_by_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _corpus(index, 5)
    _add(index, "c", "victim", ["zebras live in africa"])

    def dies(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")  # the store's commit never happens

    # The process dies after tantivy's commit, before the store's: nothing tidies up.
    monkeypatch.setattr(type(index.store), "transaction", dies)
    monkeypatch.setattr(KnowledgeIndex, "_settle_lexical", lambda self, c: None)
    write = (
        (lambda: _add(index, "c", "ghost", ["zebras live in zoos"]))
        if change == "add"
        else (lambda: index.delete_document("c", "victim"))
    )
    with pytest.raises(sqlite3.OperationalError):
        write()
    for lexical in index._lexical.values():
        lexical.close()
    index.store.close()
    monkeypatch.undo()

    built, fetched = [], []
    monkeypatch.setattr(
        "index.knowledge.build_lexical", lambda *a: built.append(a) or pytest.fail("rebuilt")
    )
    token_rows = type(index.store).token_rows

    def spy(store, collection, first, last, limit):  # type: ignore[no-untyped-def]
        rows = token_rows(store, collection, first, last, limit)
        fetched.extend(rows)
        return rows

    monkeypatch.setattr(type(index.store), "token_rows", spy)
    reopened = KnowledgeIndex(tmp_path, FakeEmbedder())
    assert _docs(reopened, "zebras") == {"victim"}  # as the store has it
    assert built == []
    assert len(fetched) == (0 if change == "add" else 1)  # the change's own chunks only
    assert reopened.verify() == []
    reopened.close()


def test_a_refused_write_leaves_no_trace_in_the_lexical_index(index: KnowledgeIndex) -> None:
    _add(index, "c", "doc1", ["zebras live in africa"])
    with pytest.raises(sqlite3.IntegrityError):  # the same document id twice
        _add(index, "c", "doc1", ["zebras live in zoos and parks", "penguins too"])
    assert [i for i, _ in index.lexical_search("c", "penguins", 5)] == []
    assert len(index.lexical_search("c", "zebras", 5)) == 1
    assert index.verify() == []


def test_lexical_searches_hold_no_lock_while_they_search(
    index: KnowledgeIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(index, "c", "doc1", ["zebras live in africa"])
    searching, release = threading.Event(), threading.Event()
    original = LexicalSearcher.search

    def slow(self: LexicalSearcher, query: str, k: int) -> list[tuple[int, float]]:
        if threading.current_thread().name == "slow":
            searching.set()
            assert release.wait(30)
        return original(self, query, k)

    monkeypatch.setattr(LexicalSearcher, "search", slow)
    slow_reader = threading.Thread(
        target=lambda: index.lexical_search("c", "zebras", 5), name="slow"
    )
    slow_reader.start()
    assert searching.wait(30)
    other: list[list[tuple[int, float]]] = []
    fast_reader = threading.Thread(
        target=lambda: other.append(index.lexical_search("c", "zebras", 5))
    )
    fast_reader.start()
    fast_reader.join(timeout=30)
    done = not fast_reader.is_alive()
    release.set()
    slow_reader.join()
    assert done, "one lexical search waited for another"
    assert len(other[0]) == 1


def test_check_notices_a_lexical_index_out_of_step(index: KnowledgeIndex) -> None:
    _add(index, "c", "doc1", ["zebras live in africa"])
    _add(index, "c", "doc2", ["penguins live in antarctica"])
    lexical = index._lexical["c"]
    held = lexical.held()
    assert held is not None
    (victim,) = [i for i, _ in index.lexical_search("c", "penguins", 5)]
    lexical.searcher = lexical.commit(held, remove=[victim])  # behind the store's back
    assert index.verify() == ["c: the lexical index and the stored chunks differ"]


def test_a_tokenizer_change_retokenizes_in_batches_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = KnowledgeIndex(tmp_path, FakeEmbedder())
    _corpus(index, 3)  # six chunks
    with index.store.transaction() as db:
        db.execute("UPDATE chunks SET tokens = 'stale'")
        index.store.set_meta("tokenizer", "0-old")
    index.close()
    monkeypatch.setattr("index.knowledge._RETOKENIZE_BATCH", 2)
    store_type = type(index.store)
    original, calls = store_type.retokenize, []

    def dies_on_the_third(store, db, tokenize_, after, limit):  # type: ignore[no-untyped-def]
        calls.append(after)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(store, db, tokenize_, after, limit)

    monkeypatch.setattr(store_type, "retokenize", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        KnowledgeIndex(tmp_path, FakeEmbedder())
    calls.clear()
    reopened = KnowledgeIndex(tmp_path, FakeEmbedder())
    assert calls[0] > 0  # the first two batches were kept
    stale = reopened.store.db.execute("SELECT COUNT(*) FROM chunks WHERE tokens = 'stale'")
    assert stale.fetchone()[0] == 0
    assert _docs(reopened, "topic2") == {"doc2"}
    reopened.close()
