from __future__ import annotations

import pytest

from core.types import Chunk, Hit
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.retriever import SearchResult, fuse


def test_items_ranked_high_in_both_lists_win() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert list(fused)[:2] == [1, 3]
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert set(fused) == {1, 2, 3, 4}


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be positive"):
        reciprocal_rank_fusion([[1]], k=0)


def _hit(document: str, ordinal: int, collection: str = "c") -> Hit:
    chunk = Chunk(
        document_id=document,
        ordinal=ordinal,
        text=f"{document} {ordinal}",
        page_start=1,
        page_end=1,
        char_start=0,
        char_end=1,
    )
    return Hit(chunk=chunk, collection=collection, filename="f.pdf", score=0.5, scores={"x": 1.0})


def test_searches_fuse_by_chunk_with_timings_added() -> None:
    a = SearchResult([_hit("d", 0), _hit("d", 1)], {"bm25": 0.1}, ["dense search skipped"])
    b = SearchResult([_hit("d", 1), _hit("e", 0), _hit("d", 0, "other")], {"bm25": 0.2})
    fused = fuse([a, b], top_k=3, rrf_k=60)
    assert [(h.chunk.document_id, h.chunk.ordinal) for h in fused.hits] == [
        ("d", 1),
        ("d", 0),
        ("e", 0),
    ]
    assert fused.hits[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused.hits[0].scores == {"x": 1.0, "fused": fused.hits[0].score}
    assert fused.timings == {"bm25": pytest.approx(0.3)}
    assert fused.notes == ["dense search skipped"]
