"""The hybrid retriever: dense + BM25 candidates, fused by RRF, reranked, across collections."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever

from core.errors import InvalidRequestError
from core.settings import RetrievalSettings
from core.text import cjk_ratio
from core.types import Hit
from index.knowledge import KnowledgeIndex
from retrieval.excerpts import CJK_QUERY_RATIO, excerpt
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.rerankers import Reranker


@dataclass
class SearchResult:
    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # how the query was routed, for people


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._t
        self._t = now


def _merge(results: list[list[tuple[int, float]]], k: int) -> list[tuple[int, float]]:
    """Merge per-collection result lists by score, best k."""
    merged = [item for result in results for item in result]
    return sorted(merged, key=lambda item: item[1], reverse=True)[:k]


class HybridRetriever:
    def __init__(
        self, index: KnowledgeIndex, settings: RetrievalSettings, reranker: Reranker | None
    ) -> None:
        self.index = index
        self.settings = settings
        self.reranker = reranker

    def search(
        self,
        query: str,
        collections: Sequence[str],
        top_k: int | None = None,
        mode: str = "hybrid",
        rerank: bool = True,
    ) -> SearchResult:
        """Rank chunks of the given collections for a query.

        Args:
            query: the question.
            collections: collections to search; results are merged.
            top_k: hits to return (default from settings).
            mode: 'hybrid', 'dense' or 'bm25'.
            rerank: apply the reranker, if one is configured.
        """
        if mode not in ("hybrid", "dense", "bm25"):
            raise InvalidRequestError(f"mode must be 'hybrid', 'dense' or 'bm25', got {mode!r}")
        s, clock = self.settings, _Clock()
        top_k = top_k or s.top_k
        rankings, raw, notes = [], {}, []
        cjk = cjk_ratio(query) >= CJK_QUERY_RATIO
        if mode == "hybrid" and cjk and not self.index.embedder.reads_cjk:
            # Fusing a noise ranking would only push good BM25 hits down (measured: CMRC
            # recall@5 0.92 for BM25 alone, 0.56 fused with MiniLM's dense ranking).
            mode = "bm25"
            notes.append("dense search skipped: the embedding model does not read CJK")
        qvec = self.index.embedder.embed_query(query) if mode in ("hybrid", "dense") else None
        clock.lap("embed")
        reranker = self.reranker if rerank else None
        if reranker is not None and cjk and not reranker.reads_cjk:
            # Measured on CMRC: MaxSim over MiniLM took recall@5 from 0.969 down to 0.737.
            notes.append(f"{reranker.name} rerank skipped: its model does not read CJK")
            reranker = None
        # One snapshot: candidates and their text come from the same state of the index, so a
        # concurrent ingest or delete is seen entirely or not at all.
        with self.index.reading():
            if qvec is not None:
                dense = _merge(
                    [self.index.dense_search(c, qvec, s.dense_k) for c in collections], s.dense_k
                )
                clock.lap("dense")
                rankings.append([i for i, _ in dense])
                raw["dense"] = dict(dense)
            if mode in ("hybrid", "bm25"):
                lexical = _merge(
                    [self.index.lexical_search(c, query, s.bm25_k) for c in collections],
                    s.bm25_k,
                )
                clock.lap("bm25")
                rankings.append([i for i, _ in lexical])
                raw["bm25"] = dict(lexical)
            fused = reciprocal_rank_fusion(rankings, s.rrf_k)
            candidates = list(fused)[: max(top_k, s.rerank_k) if reranker else top_k]
            records = self.index.chunks(candidates)
        clock.lap("fuse")
        final = {c: fused[c] for c in candidates}
        reranked: set[int] = set()
        if reranker is not None and candidates:
            head = candidates[: s.rerank_k]
            rerank_scores = reranker.score(query, [records[c].chunk.text for c in head])
            clock.lap("rerank")
            order = sorted(zip(head, rerank_scores, strict=True), key=lambda x: x[1], reverse=True)
            final = dict(order) | {c: fused[c] for c in candidates[s.rerank_k :]}
            reranked = set(head)
        hits = []
        for cid in list(final)[:top_k]:
            record = records[cid]
            scores = {name: r[cid] for name, r in raw.items() if cid in r} | {"rrf": fused[cid]}
            if cid in reranked:
                scores["rerank"] = final[cid]
            hits.append(
                Hit(
                    chunk=record.chunk,
                    collection=record.collection,
                    filename=record.filename,
                    score=final[cid],
                    scores=scores,
                )
            )
        return SearchResult(hits, clock.timings, notes)

    def excerpts(self, query: str, hits: Sequence[Hit], sentences: int | None = None) -> list[Hit]:
        """The sentences of ``hits`` that bear on ``query`` (see :mod:`retrieval.excerpts`)."""
        n = self.settings.excerpt_sentences if sentences is None else sentences
        return excerpt(query, hits, n, self.reranker)


class KbqaRetriever(BaseRetriever):
    """The hybrid retriever behind LangChain's ``BaseRetriever``, for users' own chains."""

    retriever: HybridRetriever
    collections: list[str]
    k: int = 5

    model_config = {"arbitrary_types_allowed": True}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        hits = self.retriever.search(query, self.collections, top_k=self.k).hits
        return [LCDocument(page_content=h.chunk.text, metadata=h.source()) for h in hits]
