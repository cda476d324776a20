"""`kbqa reindex`: an index re-embedded into another model from its stored chunk texts, with
one model's vectors in it at every moment, however the run is interrupted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from core.errors import IndexMismatchError
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.reembed import reembed
from index.store import Store
from tests.utils.documents import add_text_document

TEXTS = {
    "harbour": ["The old harbour was built in 1850.", "Fishermen mended nets on the quay."],
    "lamp": ["The lighthouse keeper was Ada Brook.", "Its lamp burned whale oil."],
    "birds": ["Penguins cannot fly.", "Albatrosses glide for hours.", "Gulls steal chips."],
}


class NewModel(FakeEmbedder):
    """Another model: another name and size of vector."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(dim=32)
        self.name = "fake-new"
        self.batches = 0
        self.fail_after = fail_after

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and self.batches >= self.fail_after:
            raise KeyboardInterrupt  # the user stopped the run
        self.batches += 1
        return super().embed_batch(texts)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An index of the old model (64-d), its FAISS files written."""
    path = tmp_path / "data"
    kb = KnowledgeIndex(path, FakeEmbedder())
    for doc_id, texts in TEXTS.items():
        add_text_document(kb, "c", doc_id, texts)
    kb.close()
    assert list((path / "vectors").glob("*.faiss"))
    return path


def _stored(data_dir: Path) -> tuple[str | None, dict[str, np.ndarray]]:
    """The model the store records, and each chunk text's stored vector."""
    store = Store(data_dir / "kbqa.sqlite3")
    try:
        model = store.get_meta("embedding_model")
        rows = store.db.execute("SELECT text, embedding FROM chunks").fetchall()
        return model, {text: np.frombuffer(blob, dtype=np.float32) for text, blob in rows}
    finally:
        store.close()


def _texts() -> list[str]:
    return [t for texts in TEXTS.values() for t in texts]


def test_another_model_is_refused_with_both_names_and_the_command(data_dir: Path) -> None:
    with pytest.raises(IndexMismatchError) as caught:
        KnowledgeIndex(data_dir, NewModel())
    message = str(caught.value)
    for part in ("'fake'", "'fake-new'", "kbqa reindex", "KBQA_EMBEDDING__BACKEND=fake"):
        assert part in message


def test_reindex_re_embeds_every_chunk_and_the_index_then_opens(data_dir: Path) -> None:
    model = NewModel()
    done = reembed(data_dir, model, batch=2)
    assert (done.old_model, done.new_model, done.chunks) == ("fake", "fake-new", len(_texts()))
    name, vectors = _stored(data_dir)
    assert name == "fake-new"
    want = model.embed(_texts())
    for text, vector in zip(_texts(), want, strict=True):
        np.testing.assert_allclose(vectors[text], vector, rtol=1e-6)
    kb = KnowledgeIndex(data_dir, model)
    try:
        assert kb.verify() == []
        [(best, _)] = kb.dense_search("c", model.embed_query("penguins cannot fly"), 1)
        assert kb.chunks([best])[best].chunk.text == "Penguins cannot fly."
        assert kb.lexical_search("c", "lighthouse", 1)  # BM25 untouched, still there
    finally:
        kb.close()
    assert reembed(data_dir, model).old_model is None  # a second run has nothing to do


def test_an_interrupted_reindex_leaves_the_old_model_whole_and_resumes(data_dir: Path) -> None:
    _, before = _stored(data_dir)
    with pytest.raises(KeyboardInterrupt):
        reembed(data_dir, NewModel(fail_after=2), batch=2)
    name, after = _stored(data_dir)
    assert name == "fake"  # not a single vector of the new model in place
    for text, vector in before.items():
        np.testing.assert_array_equal(after[text], vector)
    kb = KnowledgeIndex(data_dir, FakeEmbedder())  # still serves with the old model
    kb.close()
    resumed = NewModel()
    done = reembed(data_dir, resumed, batch=2)
    assert done.chunks == len(_texts()) - 4  # the two batches staged before are kept
    assert _stored(data_dir)[0] == "fake-new"


def test_faiss_files_of_the_old_vectors_are_never_read_for_the_new(data_dir: Path) -> None:
    """As if a run stopped after the swap, before it removed the old FAISS files: open
    refuses them by the model they record and rebuilds from the stored vectors."""
    store = Store(data_dir / "kbqa.sqlite3")
    store.begin_reembed("fake-new 64")
    rows = store.unstaged_texts(100)
    other = FakeEmbedder()  # same size as the old files' vectors, other values
    store.stage_vectors([i for i, _ in rows], -other.embed([t for _, t in rows]))
    assert store.swap_staged("fake-new", 64)
    store.close()
    model = FakeEmbedder()
    model.name = "fake-new"
    kb = KnowledgeIndex(data_dir, model)
    try:
        query = -other.embed_query("Penguins cannot fly.")
        [(best, score)] = kb.dense_search("c", query, 1)
        assert kb.chunks([best])[best].chunk.text == "Penguins cannot fly."
        assert score == pytest.approx(1.0, abs=1e-5)
    finally:
        kb.close()
