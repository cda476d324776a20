"""POST /search: ranked chunks with document, page and score; retrieval only, no model."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import Metrics, Reader, Service
from api.errors import ERROR_RESPONSES
from api.language import asked_in
from api.schemas import SearchRequest, SearchResponse

router = APIRouter(prefix="/search", tags=["search"])


@router.post("", responses=ERROR_RESPONSES)
def search(
    body: SearchRequest, request: Request, service: Service, metrics: Metrics, caller: Reader
) -> SearchResponse:
    """Rank chunks for a query: dense + BM25, fused, reranked; notes and errors in the query's
    language."""
    asked_in(request, body.query)
    found = service.search(
        body.query,
        caller.allow(service.collections_or_default(body.names())),
        top_k=body.top_k,
        mode=body.mode,
        rerank=body.rerank,
    )
    metrics.observe_stages(found.timings)
    return SearchResponse(hits=found.hits, timings=found.timings, notes=found.notes)
