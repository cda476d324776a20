from __future__ import annotations

from fastapi.testclient import TestClient

from api.schemas import SearchResponse
from tests.api.conftest import error_of


def test_search_ranks_chunks_with_document_page_and_score(loaded: TestClient) -> None:
    response = loaded.post("/search", json={"query": "engineer of the works", "top_k": 2})
    assert response.status_code == 200
    found = SearchResponse.model_validate(response.json())
    assert len(found.hits) == 2
    top = found.hits[0]
    assert (top.filename, top.chunk.page_start) == ("report.pdf", 2)
    assert top.score >= found.hits[1].score
    assert {"dense", "bm25", "rerank"} <= set(found.timings)


def test_search_modes_and_rerank_switch(loaded: TestClient) -> None:
    body = {"query": "reservoir dam", "mode": "bm25", "rerank": False}
    found = SearchResponse.model_validate(loaded.post("/search", json=body).json())
    assert found.hits
    assert all(set(h.scores) == {"bm25", "rrf"} for h in found.hits)
    bad = loaded.post("/search", json={"query": "dam", "mode": "fuzzy"})
    assert bad.status_code == 422
    assert "mode" in error_of(bad)["message"]


def test_searching_a_collection_that_does_not_exist_finds_nothing(loaded: TestClient) -> None:
    body = {"query": "reservoir", "collection": "nothing-here"}
    assert loaded.post("/search", json=body).json()["hits"] == []
