from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.i18n import message
from core.settings import Settings
from index.backend import IndexBackend
from index.embedders import FakeEmbedder
from ingest.pipeline import Ingestor
from retrieval.rerankers import MaxSimReranker, VectorReranker, make_reranker
from retrieval.retriever import HybridRetriever, KbqaRetriever, mentions

FACTS = {
    "zoo.txt": "Zebras live on the African savanna and eat grass.\f"
    "Penguins live in Antarctica and eat fish and krill.",
    "space.txt": "Jupiter is the largest planet of the Solar System.",
}


# Retrieval stays kbqa's on every index backend: each test runs on the local one and on Milvus.
@pytest.fixture
def retriever(tmp_path: Path, settings: Settings, backend: IndexBackend) -> HybridRetriever:
    index, ingestor = backend, Ingestor(settings.ingest, backend)
    for name, text in FACTS.items():
        path = tmp_path / name
        path.write_text(text)
        ingestor.ingest_path(path, "animals" if name == "zoo.txt" else "space")
    # MaxSim over the fake embedder's word vectors; the vector reranker has tests of its own.
    ranking = settings.retrieval.model_copy(update={"reranker": "maxsim"})
    return HybridRetriever(index, ranking, make_reranker(ranking, index.embedder))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_each_mode_finds_the_page(retriever: HybridRetriever, mode: str) -> None:
    hits = retriever.search("what do penguins eat", ["animals"], top_k=2, mode=mode).hits
    assert hits[0].filename == "zoo.txt"
    assert hits[0].chunk.page_start == 2


def test_search_across_collections(retriever: HybridRetriever) -> None:
    hits = retriever.search("largest planet Jupiter", ["animals", "space"], top_k=3).hits
    assert hits[0].collection == "space"
    assert {h.collection for h in hits} == {"animals", "space"}


def test_reranker_scores_are_reported(retriever: HybridRetriever) -> None:
    assert isinstance(retriever.reranker, MaxSimReranker)
    result = retriever.search("penguins krill", ["animals"], top_k=2)
    assert "rerank" in result.hits[0].scores
    assert result.hits[0].score == result.hits[0].scores["rerank"]
    assert {"embed", "dense", "bm25", "fuse", "rerank"} <= set(result.timings)
    unranked = retriever.search("penguins krill", ["animals"], top_k=2, rerank=False)
    assert "rerank" not in unranked.hits[0].scores


def test_the_vector_reranker_reads_stored_vectors_not_the_candidates(
    retriever: HybridRetriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No model reads a candidate at search time: the cost of a rerank is one question's
    vector and a look-up of stored ones, whatever the size of the collection."""
    embedder = retriever.index.embedder
    retriever.reranker = make_reranker(
        retriever.settings.model_copy(update={"reranker": "vectors"}), embedder
    )
    assert isinstance(retriever.reranker, VectorReranker)
    embedded: list[str] = []
    passages = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts, progress=None: embedded.extend(texts))
    for mode in ("hybrid", "dense", "bm25"):
        result = retriever.search("penguins krill", ["animals"], top_k=2, mode=mode)
        assert result.hits[0].chunk.page_start == 2, mode
        assert result.hits[0].score == result.hits[0].scores["rerank"]
        assert "rerank" in result.timings
    assert embedded == []
    monkeypatch.setattr(embedder, "embed", passages)
    assert len(retriever.reranker.score("penguins", ["Penguins eat fish.", "Jupiter"])) == 2


def test_the_vector_reranker_blends_cosine_and_bm25() -> None:
    vectors = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    query = np.array([1.0, 0.0], dtype=np.float32)
    cosine_only = VectorReranker(FakeEmbedder(), weight=1.0)
    assert cosine_only.score_stored(query, vectors, [0.0, 9.0]) == pytest.approx([1.0, 0.6])
    blended = VectorReranker(FakeEmbedder(), weight=0.5)
    assert blended.score_stored(query, vectors, [0.0, 9.0]) == pytest.approx([0.5, 0.8])
    assert blended.score_stored(query, vectors, None) == pytest.approx([1.0, 0.6])


def test_the_likeliest_reading_is_the_one_the_documents_match(
    retriever: HybridRetriever,
) -> None:
    readings = ["Where do bicycles live?", "Where do penguins live?", "Where do comets live?"]
    assert retriever.likeliest(readings, ["animals"]) == "Where do penguins live?"
    assert retriever.likeliest(readings[:1], ["animals"]) == readings[0]
    assert retriever.likeliest(readings, ["nowhere"]) == readings[0]  # nothing to match


def test_a_reading_fits_where_a_passage_naming_its_entity_says_what_was_asked(
    retriever: HybridRetriever,
) -> None:
    """The readings of "What do they eat?": penguins are named with what they eat; comets are
    named nowhere, so their reading fits far less however near its passage."""
    readings = ["What do comets eat?", "What do penguins eat?"]
    scores, margin = retriever.fit(
        readings, ["animals"], ["comets", "penguins"], "What do they eat?"
    )
    assert scores[1] >= 0 > scores[0]  # every reading no passage bears out scores below 0
    assert scores[1] - scores[0] > margin
    assert mentions("Penguins live in Antarctica.", "penguin's")
    assert mentions("乙酰胺是由乙酸衍生出的酰胺", "乙酰胺")
    assert not mentions("Penguins live in Antarctica.", "comets")


def test_a_transliterated_name_is_mentioned_by_its_last_part() -> None:
    """After naming 比尔·兰比尔 once, an article calls him 兰比尔; a brand may drop its dot."""
    later = "撇除兰比尔粗野球风，他的防守及篮板球都是活塞队屹立不倒的原因。"
    assert mentions(later, "比尔·兰比尔")
    assert mentions("美特斯邦威的经营模式", "美特斯·邦威")
    assert not mentions(later, "比尔·兰")  # one character is no name
    assert not mentions("魏尔伦的诗", "比尔·兰比尔")


def test_unknown_collection_gives_nothing(retriever: HybridRetriever) -> None:
    assert retriever.search("penguins", ["nowhere"]).hits == []


def test_bad_mode_is_refused(retriever: HybridRetriever) -> None:
    with pytest.raises(ValueError, match="mode must be"):
        retriever.search("x", ["animals"], mode="magic")


def test_langchain_retriever(retriever: HybridRetriever) -> None:
    docs = KbqaRetriever(retriever=retriever, collections=["animals"], k=1).invoke("penguins fish")
    assert docs[0].metadata["filename"] == "zoo.txt"
    assert docs[0].metadata["page"] == 2


@pytest.fixture
def chinese(tmp_path: Path, settings: Settings, backend: IndexBackend) -> IndexBackend:
    """The index with collection 'zh': a two-page Chinese text."""
    index, ingestor = backend, Ingestor(settings.ingest, backend)
    path = tmp_path / "zh.txt"
    path.write_text("北京是中国的首都。\f上海位于长江入海口。", encoding="utf-8")
    ingestor.ingest_path(path, "zh")
    return index


def test_cjk_question_skips_dense_when_the_model_reads_no_cjk(
    settings: Settings, chinese: IndexBackend
) -> None:
    retriever = HybridRetriever(chinese, settings.retrieval, None)
    result = retriever.search("上海位于哪里？", ["zh"], top_k=2)
    assert result.hits[0].chunk.page_start == 2
    assert "dense" not in result.timings
    assert result.notes == [message("notes.dense_skipped", "zh")]  # in the question's language
    chinese.embedder.reads_cjk = True
    assert "dense" in retriever.search("上海位于哪里？", ["zh"]).timings
    english = retriever.search("Shanghai", ["zh"])
    assert english.notes == []


def test_cjk_question_skips_a_reranker_that_reads_no_cjk(
    settings: Settings, chinese: IndexBackend
) -> None:
    reranker = make_reranker(settings.retrieval, chinese.embedder)
    assert reranker is not None
    assert not reranker.reads_cjk
    result = HybridRetriever(chinese, settings.retrieval, reranker).search("上海位于哪里？", ["zh"])
    assert "rerank" not in result.timings
    assert message("notes.rerank_skipped", "zh", name=reranker.name) in result.notes


def test_a_cjk_question_is_reranked_by_vectors_where_maxsim_reads_no_cjk(
    settings: Settings, chinese: IndexBackend
) -> None:
    """e5 reads Chinese, MaxSim's MiniLM does not: a Chinese question is reranked by the stored
    vectors, an English one by MaxSim, and the search says which."""
    chinese.embedder.reads_cjk = True
    maxsim = MaxSimReranker(FakeEmbedder())  # reads no CJK
    vectors = make_reranker(
        settings.retrieval.model_copy(update={"reranker": "vectors"}), chinese.embedder
    )
    retriever = HybridRetriever(chinese, settings.retrieval, maxsim, vectors)
    result = retriever.search("上海位于哪里？", ["zh"], top_k=2)
    assert result.hits[0].chunk.page_start == 2
    assert "rerank" in result.hits[0].scores
    said = message("notes.reranked_by", "zh", by="vectors", name=maxsim.name)
    assert said in result.notes


def test_passages_in_the_other_script_are_reranked_and_excerpted_by_vectors(
    settings: Settings, chinese: IndexBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An English question whose candidates are Chinese: MaxSim's MiniLM would read one side
    only, so the multilingual stored vectors rerank them, and score the sentences kept for
    the prompt; the search says so, in the question's language."""
    chinese.embedder.reads_cjk = True
    maxsim = MaxSimReranker(FakeEmbedder())  # reads no CJK
    vectors = make_reranker(
        settings.retrieval.model_copy(update={"reranker": "vectors"}), chinese.embedder
    )
    assert isinstance(vectors, VectorReranker)
    retriever = HybridRetriever(chinese, settings.retrieval, maxsim, vectors)
    result = retriever.search("Where is Shanghai?", ["zh"], top_k=2)
    assert "rerank" in result.hits[0].scores
    assert result.notes == [message("notes.other_script", "en", by="vectors")]
    scored: list[str] = []

    def score(self: VectorReranker, query: str, texts: list[str]) -> list[float]:
        scored.extend(texts)
        return [0.0] * len(texts)

    monkeypatch.setattr(VectorReranker, "score", score)
    retriever.excerpts("Where is Shanghai?", result.hits, 1)
    assert "上海位于长江入海口。" in scored
