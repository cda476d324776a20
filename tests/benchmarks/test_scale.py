"""The scale benchmark's parts on a tiny corpus: the figures it prints come from real calls."""

from __future__ import annotations

from pathlib import Path

from benchmarks.scale import bulk, measure
from benchmarks.scale.corpus import SyntheticEmbedder, document, queries
from benchmarks.scale.run import COLLECTION, project
from core.settings import DenseSettings, RetrievalSettings
from index.knowledge import KnowledgeIndex
from retrieval.retriever import HybridRetriever


def test_the_synthetic_corpus_is_the_same_every_time() -> None:
    a, b = document(7, 20), document(7, 20)
    assert [c.text for c in a.chunks] == [c.text for c in b.chunks]
    assert (a.vectors == b.vectors).all()
    assert len(a.chunks[0].text.split()) == 120


def test_a_bulk_loaded_corpus_opens_whole_and_is_searched(tmp_path: Path) -> None:
    bulk.build(tmp_path, COLLECTION, 0, 6, 50)
    qs = queries(10, 6, 50)
    index = KnowledgeIndex(tmp_path, SyntheticEmbedder(qs), DenseSettings(exact_max=200))
    try:
        index.wait_for_rebuilds()  # 300 chunks past exact_max 200: IVF, built when opened
        assert index.verify() == []
        assert not index._collection(COLLECTION).vectors.exact
        recall = measure._recall(index, qs)
        assert recall["recall_at_10"] >= 0.9
        retriever = HybridRetriever(index, RetrievalSettings(reranker="none"), None)
        figures = measure._search(retriever, qs) | measure._throughput(retriever, qs, rounds=1)
        assert figures["qps_1"] > 0
        writes = measure._writes(index, SyntheticEmbedder(), reps=1)
        assert writes["add_s"] > 0
        assert index.verify() == []
    finally:
        index.close()


def test_costs_are_projected_on_the_growth_between_the_two_largest_sizes() -> None:
    small = {"chunks": 1000, "add_s": 0.1, "rss_mb": 100.0, "recall_at_10": 0.99}
    large = {"chunks": 10000, "add_s": 0.2, "rss_mb": 1000.0, "recall_at_10": 0.97}
    projected = project([small, large], 100_000)
    assert projected["add_s"] == 0.4
    assert projected["rss_mb"] == 10000.0
    assert "recall_at_10" not in projected  # a ratio, not a cost


def test_a_falling_cost_is_projected_flat_and_exact_against_ivf_not_at_all() -> None:
    small = {"chunks": 1000, "add_s": 0.2, "dense_exact": False}
    large = {"chunks": 10000, "add_s": 0.1, "dense_exact": False}
    assert project([small, large], 100_000)["add_s"] == 0.1
    assert project([small | {"dense_exact": True}, large], 100_000) == {}
