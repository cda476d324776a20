from __future__ import annotations

import pytest

from retrieval.fusion import reciprocal_rank_fusion


def test_items_ranked_high_in_both_lists_win() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert list(fused)[:2] == [1, 3]
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert set(fused) == {1, 2, 3, 4}


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be positive"):
        reciprocal_rank_fusion([[1]], k=0)
