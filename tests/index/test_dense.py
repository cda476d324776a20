"""The vector index past its exact threshold: IVF built aside and swapped in, deletes, files
written now and then and replayed on open, reads side by side."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from core.settings import DenseSettings
from index import builds
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.locks import SharedLock
from tests.utils.documents import add_text_document

DIM = 32
ROOT = Path(__file__).resolve().parents[2]
SMALL = DenseSettings(exact_max=60, checkpoint_changes=100, nprobe=64)


def _vectors(seed: int, n: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _add(index: KnowledgeIndex, doc: int, n: int = 20, collection: str = "c") -> np.ndarray:
    texts = [f"document {doc} chunk {i} word{doc}x{i}" for i in range(n)]
    vectors = _vectors(doc, n)
    add_text_document(index, collection, f"doc{doc}", texts, vectors)
    return vectors


def _open(path: Path, dense: DenseSettings = SMALL) -> KnowledgeIndex:
    return KnowledgeIndex(path, FakeEmbedder(dim=DIM), dense)


def _top(index: KnowledgeIndex, query: np.ndarray, k: int = 1) -> list[int]:
    return [i for i, _ in index.dense_search("c", query, k)]


def test_past_the_threshold_an_ivf_index_is_built_and_finds_the_same(tmp_path: Path) -> None:
    index = _open(tmp_path)
    added = [_add(index, d) for d in range(5)]  # 100 chunks > exact_max 60
    index.wait_for_rebuilds()
    vectors = index._collection("c").vectors
    assert not vectors.exact
    assert vectors.trained_at >= 60
    assert index.verify() == []
    ids = {i for i, _ in index.dense_search("c", added[3][7], 100)}
    assert len(ids) == 100
    # nprobe covers every list here, so IVF answers as exact search would
    best = _top(index, added[3][7])[0]
    assert index.chunks([best])[best].chunk.text.endswith("word3x7")
    index.close()


def test_deletes_and_adds_past_the_threshold_survive_a_crash(tmp_path: Path) -> None:
    index = _open(tmp_path)
    for d in range(5):
        _add(index, d)
    index.wait_for_rebuilds()
    index.close()  # the IVF index is on disk
    crashed = _open(tmp_path)
    crashed.delete_document("c", "doc1")
    kept = _add(crashed, 7)
    crashed._rebuilds.stop()
    crashed.store.close()  # no flush: the file is behind by one add and one delete
    reopened = _open(tmp_path)
    assert reopened.verify() == []
    vectors = reopened._collection("c").vectors
    assert not vectors.exact
    assert len(vectors) == 100
    best = _top(reopened, kept[4])[0]
    assert reopened.chunks([best])[best].chunk.text.endswith("word7x4")
    assert not {r.chunk.document_id for r in reopened.chunks(vectors.ids().tolist()).values()} & {
        "doc1"
    }
    reopened.close()


def test_a_lost_file_is_rebuilt_from_sqlite(tmp_path: Path) -> None:
    index = _open(tmp_path)
    for d in range(4):
        _add(index, d)
    index.close()
    for path in (tmp_path / "vectors").iterdir():
        path.unlink()
    reopened = _open(tmp_path)
    reopened.wait_for_rebuilds()
    assert reopened.verify() == []
    assert not reopened._collection("c").vectors.exact
    reopened.close()


def test_shrinking_below_half_the_threshold_returns_to_exact(tmp_path: Path) -> None:
    index = _open(tmp_path)
    for d in range(4):
        _add(index, d)
    index.wait_for_rebuilds()
    for d in range(3):
        index.delete_document("c", f"doc{d}")
    index.wait_for_rebuilds()
    assert index._collection("c").vectors.exact
    assert index.verify() == []
    index.close()


def test_writes_during_a_rebuild_are_replayed_onto_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _open(tmp_path)
    for d in range(3):
        _add(index, d)  # 60 chunks: still exact
    started, release = threading.Event(), threading.Event()
    fill = builds.fill

    def held_fill(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(30)
        return fill(*args, **kwargs)

    monkeypatch.setattr(builds, "fill", held_fill)
    _add(index, 3)  # 80 chunks: the IVF build starts, and waits
    assert started.wait(30)
    late = _add(index, 4)  # journaled
    index.delete_document("c", "doc0")  # journaled
    assert _top(index, late[2])  # searches go on meanwhile, on the exact index
    release.set()
    index.wait_for_rebuilds()
    vectors = index._collection("c").vectors
    assert not vectors.exact
    assert index.verify() == []
    best = _top(index, late[2])[0]
    assert index.chunks([best])[best].chunk.text.endswith("word4x2")
    index.close()


def test_a_write_does_not_rewrite_the_vector_file(tmp_path: Path) -> None:
    """Persistence proportional to the change: flushes after small writes leave the file."""
    dense = DenseSettings(exact_max=10_000, checkpoint_changes=1000)
    index = _open(tmp_path, dense)
    for d in range(30):
        _add(index, d)
    index.flush(force=True)
    path = tmp_path / "vectors" / "c.faiss"
    written = path.stat().st_mtime_ns
    for d in range(30, 33):
        _add(index, d)
        index.flush()  # what the job queue does when it drains
    assert path.stat().st_mtime_ns == written
    index.close()
    assert path.stat().st_mtime_ns != written  # close writes what changed
    reopened = _open(tmp_path, dense)
    assert len(reopened._collection("c").vectors) == 33 * 20
    reopened.close()


def test_searches_run_side_by_side_and_a_writer_waits_for_them(tmp_path: Path) -> None:
    index = _open(tmp_path)
    query = _add(index, 0)[0]
    inside, leave = threading.Event(), threading.Event()

    def long_reader() -> None:
        with index.reading():
            inside.set()
            assert leave.wait(30)

    reader = threading.Thread(target=long_reader)
    reader.start()
    assert inside.wait(30)
    other = threading.Thread(target=lambda: _top(index, query))
    other.start()
    other.join(timeout=30)
    assert not other.is_alive(), "a search waited for another search"
    writer = threading.Thread(target=lambda: _add(index, 1))
    writer.start()
    writer.join(timeout=0.5)
    assert writer.is_alive(), "a write committed under a reader's snapshot"
    leave.set()
    writer.join(timeout=30)
    reader.join(timeout=30)
    assert len(index._collection("c").vectors) == 40
    index.close()


def test_shared_lock_is_reentrant_and_refuses_an_upgrade() -> None:
    lock = SharedLock()
    with lock, lock, pytest.raises(RuntimeError, match="exclusively"), lock.exclusive():
        pass
    with lock.exclusive(), lock.exclusive(), lock:
        pass
    with lock:  # released properly after all that
        pass


def test_a_vector_search_leaves_torch_its_threads() -> None:
    """FAISS searches on one OpenMP thread; torch reads the same setting where both use one
    OpenMP runtime, and a thread that had searched then embedded and reranked on one core.
    Which runtime each binds depends on import order, so the check runs in a fresh process
    that imports them as kbqa does (torch first)."""
    script = """
import torch
import numpy as np
from index.vectors import build_faiss_index, search_faiss
before = torch.get_num_threads()
index = build_faiss_index(8)
index.add_with_ids(np.eye(8, dtype=np.float32), np.arange(8, dtype=np.int64))
search_faiss(index, np.eye(8, dtype=np.float32)[:1], 3, nprobe=1)
print(before, torch.get_num_threads())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split()
    assert after == before
