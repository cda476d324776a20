"""Vector search on a GPU: when it happens, and that it answers, deletes and persists as the CPU
index does. On CPU machines FAISS's GPU functions are a stand-in (tests/utils/faiss_gpu.py);
the tests marked `gpu` run the real ones and skip where FAISS sees no GPU."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from core.settings import GpuSettings, Settings
from index import gpu as gpu_module
from index.embedders import FakeEmbedder
from index.gpu import GpuFaiss, GpuMirror, gpu_faiss
from index.knowledge import KnowledgeIndex
from index.vectors import FaissVectors
from kbqa.app import KBQA
from tests.utils.documents import add_text_document
from tests.utils.faiss_gpu import FakeGpu, install_fake_gpu

DIM = 32


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> FakeGpu:
    return install_fake_gpu(monkeypatch)


_add = add_text_document


def unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def pair(gpu: GpuFaiss, n: int = 500) -> tuple[FaissVectors, FaissVectors]:
    """The same vectors in an index searched on the CPU and one searched on the GPU."""
    on_cpu, on_gpu = FaissVectors(DIM), FaissVectors(DIM, gpu=gpu)
    for index in (on_cpu, on_gpu):
        index.add(np.arange(1, n + 1, dtype=np.int64), unit_vectors(n, seed=0))
    return on_cpu, on_gpu


def assert_same_answers(a: FaissVectors, b: FaissVectors, k: int = 10) -> None:
    for query in unit_vectors(20, seed=1):
        ours, theirs = a.search(query, k), b.search(query, k)
        assert [i for i, _ in ours] == [i for i, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)


def assert_same_up_to_ties(ours: list[tuple[int, float]], theirs: list[tuple[int, float]]) -> None:
    """Same scores, and the same ids for each score but the last (FAISS orders equal scores by
    where the vectors lie, which deletions move on the CPU and not on the GPU copy)."""
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)
    last = min((s for _, s in ours), default=0.0)
    for score in {round(s, 5) for _, s in ours if s > last + 1e-6}:
        assert {i for i, s in ours if round(s, 5) == score} == {
            i for i, s in theirs if round(s, 5) == score
        }


# -- the choice -------------------------------------------------------------------------------
def test_a_faiss_without_gpu_support_searches_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(faiss, "StandardGpuResources", raising=False)
    assert gpu_faiss(GpuSettings()) is None


def test_no_gpu_seen_searches_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_gpu(monkeypatch, gpus=0)
    assert gpu_faiss(GpuSettings()) is None


def test_the_setting_turns_the_gpu_off(fake_gpu: FakeGpu) -> None:
    assert gpu_faiss(GpuSettings(faiss=False)) is None
    assert isinstance(gpu_faiss(GpuSettings()), GpuFaiss)  # on by default


def test_a_device_faiss_does_not_see_is_refused_with_a_warning(
    fake_gpu: FakeGpu, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert gpu_faiss(GpuSettings(device=1)) is None
    assert "gpu.device is 1 but FAISS sees 1 GPU" in caplog.text


def test_settings_reach_faiss(fake_gpu: FakeGpu) -> None:
    gpu = gpu_faiss(GpuSettings(float16=True, temp_memory_mb=64))
    assert gpu is not None
    assert gpu.resources.temp_memory == 64 * 2**20
    _, on_gpu = pair(gpu)
    on_gpu.search(unit_vectors(1, seed=1)[0], 5)
    assert fake_gpu.copies[-1].float16


def test_the_service_searches_on_the_gpu_its_settings_allow(
    settings: Settings, fake_gpu: FakeGpu
) -> None:
    with KBQA(settings) as kb:
        assert isinstance(kb.index.gpu, GpuFaiss)
    with KBQA(settings.model_copy(update={"gpu": GpuSettings(faiss=False)})) as kb:
        assert kb.index.gpu is None


# -- answers, additions, deletions ------------------------------------------------------------
def test_the_gpu_answers_as_the_cpu_does(fake_gpu: FakeGpu) -> None:
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    assert_same_answers(on_cpu, on_gpu)
    assert len(fake_gpu.copies) == 1
    assert fake_gpu.copies[0].searches == 20


def test_additions_reach_the_gpu_copy_without_copying_it_again(fake_gpu: FakeGpu) -> None:
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    on_gpu.search(unit_vectors(1, seed=1)[0], 5)
    for index in (on_cpu, on_gpu):
        index.add(np.arange(1000, 1100, dtype=np.int64), unit_vectors(100, seed=2))
    assert_same_answers(on_cpu, on_gpu)
    assert len(fake_gpu.copies) == 1
    assert fake_gpu.copies[0].ntotal == 600


def test_deleted_vectors_are_never_found_on_the_gpu(fake_gpu: FakeGpu) -> None:
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    on_gpu.search(unit_vectors(1, seed=1)[0], 5)
    # The best matches of the test queries go, so the GPU must look past them.
    gone = sorted({i for q in unit_vectors(20, seed=1) for i, _ in on_cpu.search(q, 3)})
    for index in (on_cpu, on_gpu):
        index.remove(gone)
    assert_same_answers(on_cpu, on_gpu, k=10)
    assert len(fake_gpu.copies) == 1  # filtered, not copied again
    assert not set(gone) & {i for q in unit_vectors(20, seed=1) for i, _ in on_gpu.search(q, 50)}


def test_removing_ids_the_index_does_not_hold_needs_no_fresh_copy(fake_gpu: FakeGpu) -> None:
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    on_gpu.search(unit_vectors(1, seed=1)[0], 5)
    for index in (on_cpu, on_gpu):
        index.remove([3, 4, 99_999])  # 99,999 was never there
        index.remove([3])  # nor is 3 any more
    assert_same_answers(on_cpu, on_gpu)
    assert len(fake_gpu.copies) == 1


def test_many_deletions_copy_the_index_to_the_gpu_afresh(
    fake_gpu: FakeGpu, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpu_module, "MAX_DELETED", 50)
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    on_gpu.search(unit_vectors(1, seed=1)[0], 5)
    for start in range(1, 201, 40):  # 200 deleted, 40 at a time
        for index in (on_cpu, on_gpu):
            index.remove(list(range(start, start + 40)))
        assert_same_answers(on_cpu, on_gpu)
    assert len(fake_gpu.copies) == 3  # the first, then after 80 and after 160 were deleted
    assert fake_gpu.copies[-1].ntotal == 500 - 160


def test_more_neighbours_than_a_gpu_returns_are_found_on_the_cpu(fake_gpu: FakeGpu) -> None:
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()), n=3000)
    assert_same_answers(on_cpu, on_gpu, k=2500)
    assert all(copy.searches == 0 for copy in fake_gpu.copies)


def test_a_change_the_copy_missed_is_caught_by_its_size(fake_gpu: FakeGpu) -> None:
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    on_gpu.search(unit_vectors(1, seed=1)[0], 5)
    extra = (unit_vectors(5, seed=3), np.arange(9000, 9005, dtype=np.int64))
    on_cpu.add(extra[1], extra[0])
    on_gpu._index.add_with_ids(*extra)  # past the hook, as a careless future change might
    assert_same_answers(on_cpu, on_gpu)
    assert len(fake_gpu.copies) == 2


def test_an_index_type_without_a_gpu_form_searches_on_the_cpu(
    fake_gpu: FakeGpu, caplog: pytest.LogCaptureFixture
) -> None:
    hnsw = faiss.IndexHNSWFlat(DIM, 8, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(unit_vectors(100, seed=0))
    mirror = GpuMirror(GpuFaiss(GpuSettings()))
    query = unit_vectors(1, seed=1)
    with caplog.at_level(logging.WARNING):
        assert mirror.search(hnsw, query, 5) is None
        assert mirror.search(hnsw, query, 5) is None
    assert caplog.text.count("cannot copy it to the GPU") == 1
    assert not mirror.on_gpu


def test_a_gpu_without_room_for_the_copy_leaves_search_on_the_cpu(
    fake_gpu: FakeGpu, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(*args: object) -> None:
        raise RuntimeError("Error: cudaMalloc failed: out of memory")

    monkeypatch.setattr(faiss, "index_cpu_to_gpu", full)
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    with caplog.at_level(logging.WARNING):
        assert_same_answers(on_cpu, on_gpu)
    assert "out of memory" in caplog.text


def test_an_ivf_index_is_copied_and_searched_with_the_callers_nprobe(fake_gpu: FakeGpu) -> None:
    vectors = unit_vectors(2000, seed=0)
    quantizer = faiss.IndexFlatIP(DIM)
    ivf = faiss.IndexIVFFlat(quantizer, DIM, 16, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors)
    ivf.add_with_ids(vectors, np.arange(2000, dtype=np.int64))
    mirror = GpuMirror(GpuFaiss(GpuSettings()))
    queries, params = unit_vectors(10, seed=1), faiss.SearchParametersIVF(nprobe=4)
    found = mirror.search(ivf, queries, 10, params)
    assert found is not None
    np.testing.assert_array_equal(found[1], ivf.search(queries, 10, params=params)[1])
    assert (found[1] != ivf.search(queries, 10)[1]).any()  # nprobe 4 is not the index's 1
    gone = np.unique(found[1][:, :2])
    ivf.remove_ids(gone)
    mirror.remove(gone.tolist())
    after = mirror.search(ivf, queries, 10, params)
    assert after is not None
    np.testing.assert_array_equal(after[1], ivf.search(queries, 10, params=params)[1])


# -- persistence and the knowledge index -----------------------------------------------------
def test_an_index_searched_on_the_gpu_saves_and_opens_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_gpu(monkeypatch)
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    on_gpu.search(unit_vectors(1, seed=1)[0], 5)
    for index in (on_cpu, on_gpu):
        index.remove(list(range(1, 30)))
    on_gpu.save(tmp_path / "v.faiss")
    monkeypatch.undo()  # a machine without a GPU
    assert type(faiss.read_index(str(tmp_path / "v.faiss"))).__name__ == "IndexIDMap2"
    loaded = FaissVectors.load(tmp_path / "v.faiss", DIM)
    assert loaded is not None
    assert len(loaded) == len(on_cpu)
    assert_same_answers(on_cpu, loaded)


def test_the_gpu_copy_round_trips_to_a_cpu_index(fake_gpu: FakeGpu) -> None:
    on_cpu, on_gpu = pair(GpuFaiss(GpuSettings()))
    on_gpu.search(unit_vectors(1, seed=1)[0], 5)
    on_gpu.add(np.arange(700, 710, dtype=np.int64), unit_vectors(10, seed=4))
    on_cpu.add(np.arange(700, 710, dtype=np.int64), unit_vectors(10, seed=4))
    back = faiss.deserialize_index(
        faiss.serialize_index(faiss.index_gpu_to_cpu(fake_gpu.copies[0]))
    )
    restored = FaissVectors(DIM)
    restored._index = back
    assert_same_answers(on_cpu, restored)


def test_documents_added_and_deleted_search_alike_with_and_without_the_gpu(
    tmp_path: Path, fake_gpu: FakeGpu
) -> None:
    texts = {
        f"d{i}": [f"animal {i} lives in place {i}", f"food {i} grows near {i}"] for i in range(8)
    }
    kb_gpu = KnowledgeIndex(tmp_path / "g", FakeEmbedder(), gpu=GpuFaiss(GpuSettings()))
    kb_cpu = KnowledgeIndex(tmp_path / "c", FakeEmbedder())
    for kb in (kb_gpu, kb_cpu):
        for doc, chunk_texts in texts.items():
            _add(kb, "c", doc, chunk_texts)
        kb.dense_search("c", kb.embedder.embed_query("animal"), 3)
        kb.delete_document("c", "d3")
        _add(kb, "c", "d9", ["animal 3 lives elsewhere now"])
        assert kb.verify() == []
    for query in ("animal 3", "food 5 grows", "place 9"):
        vector = kb_cpu.embedder.embed_query(query)
        assert_same_up_to_ties(
            kb_gpu.dense_search("c", vector, 5), kb_cpu.dense_search("c", vector, 5)
        )
    assert fake_gpu.copies
    assert sum(c.searches for c in fake_gpu.copies) >= 4
    kb_gpu.close()
    kb_cpu.close()
    reopened = KnowledgeIndex(tmp_path / "g", FakeEmbedder())  # no GPU now
    vector = reopened.embedder.embed_query("animal 3")
    assert {i for i, _ in reopened.dense_search("c", vector, 100)} == set(
        reopened.store.chunk_ids("c").tolist()
    )
    reopened.close()


def test_a_search_on_the_gpu_sees_a_document_whole_or_not_at_all(
    tmp_path: Path, fake_gpu: FakeGpu
) -> None:
    kb = KnowledgeIndex(tmp_path, FakeEmbedder(), gpu=GpuFaiss(GpuSettings()))
    _add(kb, "c", "base", ["the base document"])
    query = kb.embedder.embed_query("words")
    torn: list[set[int]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            with kb.reading():
                found = {i for i, _ in kb.dense_search("c", query, 1000)}
                stored = set(kb.store.chunk_ids("c").tolist())
            if found != stored:
                torn.append(found ^ stored)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for n in range(30):
            _add(kb, "c", f"doc{n}", [f"words {n} {j}" for j in range(5)])
            if n % 3 == 2:
                kb.delete_document("c", f"doc{n - 1}")
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert torn == []
    assert sum(c.searches for c in fake_gpu.copies) > 0
    kb.close()


# -- the real GPU ---------------------------------------------------------------------------
def _real_gpu() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@pytest.mark.gpu
@pytest.mark.skipif(not _real_gpu(), reason="needs a FAISS GPU build (faiss-gpu) and a CUDA GPU")
def test_real_gpu_answers_deletes_and_round_trips_as_the_cpu_does(tmp_path: Path) -> None:
    gpu = gpu_faiss(GpuSettings())
    assert gpu is not None
    on_cpu, on_gpu = pair(gpu, n=5000)
    assert_same_answers(on_cpu, on_gpu)
    assert on_gpu._gpu is not None
    assert on_gpu._gpu.on_gpu
    for index in (on_cpu, on_gpu):
        index.remove(list(range(1, 300)))
        index.add(np.arange(9000, 9100, dtype=np.int64), unit_vectors(100, seed=5))
    assert_same_answers(on_cpu, on_gpu, k=50)
    replica = on_gpu._gpu._replica
    back = FaissVectors(DIM)
    back._index = faiss.deserialize_index(faiss.serialize_index(faiss.index_gpu_to_cpu(replica)))
    assert len(back) == len(on_cpu) + 299  # the copy still holds the deleted rows, filtered
    on_gpu.save(tmp_path / "v.faiss")
    loaded = FaissVectors.load(tmp_path / "v.faiss", DIM)
    assert loaded is not None
    assert_same_answers(on_cpu, loaded)
