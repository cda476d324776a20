"""The hybrid retriever: dense + BM25 candidates, fused by RRF, reranked, across collections."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever

from core.errors import InvalidRequestError
from core.i18n import language_of, message
from core.settings import RetrievalSettings
from core.text import NAME_DOT_RE, cjk_ratio, sentence_spans
from core.types import Evidence, Hit
from index.backend import IndexBackend
from index.lexical import tokenize
from index.store import ChunkRecord
from retrieval.evidence import measure
from retrieval.excerpts import CJK_QUERY_RATIO, excerpt, other_script
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.rerankers import Reranker, VectorReranker

MODES = ("hybrid", "dense", "bm25")
# Two readings of a follow-up fit as well as each other within this share of their terms
# (:meth:`HybridRetriever.fit`).
FIT_MARGIN = 0.05
FIT_HITS = 3  # passages a reading is judged by
UNBORNE = 2.0  # below any reading that a passage bears out: every score under 0
ELSEWHERE = 2 * FIT_MARGIN  # the entity named in the passage, not beside what is asked
COSINE_WEIGHT = 0.1  # the embedder's cosine only breaks ties between shares of terms
_STEM_KEEP = 4  # "teachers" and "teacher": a word's start names it


def _borne_out(
    asked: str, entity: str | None, passages: Sequence[tuple[str, float]], pool: set[str]
) -> float:
    """The weighed share of ``asked``'s terms that two neighbouring sentences of one of
    ``passages`` (text, cosine) hold, sentences that name ``entity`` (:data:`ELSEWHERE` less
    where only their passage does, :data:`UNBORNE` less where none does), plus a little of
    the passage's cosine. A term weighs the less, the more of the
    ``pool`` (every passage near any reading) holds it: of "它主治哪些问题", 主治 is in one
    passage and says which, 问题 is in most and says nothing."""
    terms = tokenize(asked)
    weights = [math.log(1 + len(pool) / (1 + sum(_holds(t, p) for p in pool))) for t in terms]
    total = sum(weights) or 1.0
    best = borne = float("-inf")
    for text, cosine in passages:
        sentences = [text[a:b] for a, b in sentence_spans(text)] or [text]
        windows = [" ".join(sentences[max(0, i - 1) : i + 1]) for i in range(len(sentences))]
        for window in windows:
            held = sum(w for t, w in zip(terms, weights, strict=True) if _holds(t, window))
            score = held / total + COSINE_WEIGHT * cosine
            best = max(best, score)
            if entity is None or mentions(window, entity):
                borne = max(borne, score)
            elif mentions(text, entity):  # a Chinese passage names its subject once, first
                borne = max(borne, score - ELSEWHERE)
    return borne if borne > float("-inf") else best - UNBORNE


def _holds(term: str, text: str) -> bool:
    """Whether ``text`` holds a BM25 term (a word by its start: "condense" in "condenses";
    a CJK bigram as it is)."""
    text = text.lower()
    if cjk_ratio(term) > 0:
        return term in text
    return re.search(r"\b" + re.escape(_stem(term)), text) is not None


def _stem(word: str) -> str:
    return word[: max(_STEM_KEEP, len(word) - 2)]


def mentions(text: str, entity: str) -> bool:
    """Whether ``text`` names ``entity``: the entity itself (CJK), or its words in a row, each
    by its start ("university's core" in "University's core", "teachers" in "teacher"); not
    its words apart ("program the university" is no name of "the program that the university
    runs"). A transliterated CJK name by its last part too, as a text calls its person after
    naming them once (比尔·兰比尔, then 兰比尔), or written without its dot."""
    text = text.lower()
    if cjk_ratio(entity) > 0:
        entity = entity.lower()
        last = NAME_DOT_RE.split(entity)[-1]
        plain = NAME_DOT_RE.sub("", entity)
        return entity in text or plain in text or (len(last) >= 2 and last in text)
    words = [re.sub(r"['’]s$", "", w) for w in re.findall(r"[^\W_]+(?:['’]s)?", entity.lower())]
    pattern = r"\W+".join(re.escape(_stem(w)) + r"\w*(?:['’]s)?" for w in words if w)
    return bool(pattern) and re.search(r"\b" + pattern, text) is not None


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


def _hit(
    cid: int,
    score: float,
    record: ChunkRecord,
    raw: dict[str, dict[int, float]],
    fused: dict[int, float],
    reranked: dict[int, float],
) -> Hit:
    """A hit with the score of each stage that ranked it."""
    scores = {name: ranking[cid] for name, ranking in raw.items() if cid in ranking}
    scores["rrf"] = fused[cid]
    if cid in reranked:
        scores["rerank"] = reranked[cid]
    return Hit(
        chunk=record.chunk,
        collection=record.collection,
        filename=record.filename,
        score=score,
        scores=scores,
    )


def fuse(results: Sequence[SearchResult], top_k: int, rrf_k: int) -> SearchResult:
    """Several searches' hits as one ranking, by reciprocal rank fusion: a chunk that ranks
    high for any of the queries ranks high. A hit keeps the scores of the first search that
    found it; its ``score`` is the fused one. Timings add up; notes are kept once."""
    first: dict[tuple[str, str, int], Hit] = {}
    rankings = []
    for result in results:
        keys = [(h.collection, h.chunk.document_id, h.chunk.ordinal) for h in result.hits]
        rankings.append(keys)
        for key, hit in zip(keys, result.hits, strict=True):
            first.setdefault(key, hit)
    fused = reciprocal_rank_fusion(rankings, rrf_k)
    hits = [
        first[key].model_copy(
            update={"score": score, "scores": {**first[key].scores, "fused": score}}
        )
        for key, score in list(fused.items())[:top_k]
    ]
    timings: dict[str, float] = {}
    for result in results:
        for stage, seconds in result.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
    notes = list(dict.fromkeys(note for result in results for note in result.notes))
    return SearchResult(hits, timings, notes)


class HybridRetriever:
    def __init__(
        self,
        index: IndexBackend,
        settings: RetrievalSettings,
        reranker: Reranker | None,
        cjk_reranker: Reranker | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.reranker = reranker
        self.cjk_reranker = cjk_reranker  # for CJK questions, where ``reranker`` reads no CJK

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
        if mode not in MODES:
            raise InvalidRequestError(f"mode must be 'hybrid', 'dense' or 'bm25', got {mode!r}")
        s, clock, notes = self.settings, _Clock(), list[str]()
        top_k = top_k or s.top_k
        mode, reranker = self._route(query, mode, self.reranker if rerank else None, notes)
        qvec = self.index.embedder.embed_query(query) if mode != "bm25" else None
        clock.lap("embed")
        # One snapshot: candidates and their text come from the same state of the index, so a
        # concurrent ingest or delete is seen entirely or not at all.
        with self.index.reading():
            raw = self._candidates(query, mode, qvec, collections, clock)
            fused = reciprocal_rank_fusion([list(ranking) for ranking in raw.values()], s.rrf_k)
            candidates = list(fused)[: max(top_k, s.rerank_k) if reranker else top_k]
            records = self.index.chunks(candidates)
        # A server index (Milvus) holds nothing still between two reads: a document deleted
        # meanwhile has no records, and its chunks drop out.
        candidates = [c for c in candidates if c in records]
        clock.lap("fuse")
        final = {c: fused[c] for c in candidates}
        reranked: dict[int, float] = {}
        if reranker is not None and candidates:
            head = candidates[: s.rerank_k]
            reranker = self._across(query, reranker, records[head[0]].chunk.text, notes)
            if isinstance(reranker, VectorReranker):
                reranked = self._rerank_stored(query, qvec, reranker, head, raw.get("bm25"))
            else:
                reranked = self._rerank(query, reranker, head, records)
            clock.lap("rerank")
            final = reranked | {c: fused[c] for c in candidates[s.rerank_k :]}
        best = list(final)[:top_k]
        hits = [_hit(cid, final[cid], records[cid], raw, fused, reranked) for cid in best]
        return SearchResult(hits, clock.timings, notes)

    def _route(
        self, query: str, mode: str, reranker: Reranker | None, notes: list[str]
    ) -> tuple[str, Reranker | None]:
        """The mode and reranker a query gets: a model that reads no CJK sits out CJK queries."""
        if not cjk_ratio(query) >= CJK_QUERY_RATIO:
            return mode, reranker
        lang = language_of(query)  # the notes are for the person who asked
        if mode == "hybrid" and not self.index.embedder.reads_cjk:
            # Fusing a noise ranking would only push good BM25 hits down (measured: CMRC
            # recall@5 0.92 for BM25 alone, 0.56 fused with MiniLM's dense ranking).
            mode = "bm25"
            notes.append(message("notes.dense_skipped", lang))
        if reranker is not None and not reranker.reads_cjk:
            # Measured on CMRC: MaxSim over MiniLM took recall@5 from 0.969 down to 0.737.
            fallback = self.cjk_reranker
            if fallback is not None and fallback.reads_cjk:
                said = message("notes.reranked_by", lang, by=fallback.name, name=reranker.name)
                notes.append(said)
                return mode, fallback
            notes.append(message("notes.rerank_skipped", lang, name=reranker.name))
            reranker = None
        return mode, reranker

    def _across(self, query: str, reranker: Reranker, best: str, notes: list[str]) -> Reranker:
        """The reranker for candidates whose best (its text ``best``) is in the other script
        than the question (a Chinese question about English documents): the stored vectors of
        a multilingual embedder, where MaxSim over MiniLM's tokens would read only one side."""
        across = self.cjk_reranker
        if reranker is across or across is None or not across.reads_cjk:
            return reranker
        if not other_script(query, best):
            return reranker
        notes.append(message("notes.other_script", language_of(query), by=across.name))
        return across

    def _candidates(
        self,
        query: str,
        mode: str,
        qvec: np.ndarray | None,
        collections: Sequence[str],
        clock: _Clock,
    ) -> dict[str, dict[int, float]]:
        """Each ranking the mode asks for (``dense``, ``bm25``) as chunk id -> score, best
        first, merged across the collections."""
        s, raw = self.settings, {}
        if qvec is not None:
            dense = [self.index.dense_search(c, qvec, s.dense_k) for c in collections]
            raw["dense"] = dict(_merge(dense, s.dense_k))
            clock.lap("dense")
        if mode in ("hybrid", "bm25"):
            lexical = [self.index.lexical_search(c, query, s.bm25_k) for c in collections]
            raw["bm25"] = dict(_merge(lexical, s.bm25_k))
            clock.lap("bm25")
        return raw

    @staticmethod
    def _rerank(
        query: str, reranker: Reranker, head: list[int], records: dict[int, ChunkRecord]
    ) -> dict[int, float]:
        """The reranker's scores of the head candidates, best first. The reranker reads the
        chunks' text without their headings: under MaxSim a heading that every chunk of a
        document shares scores them alike, and the SQuAD set's MRR@10 fell 0.902 -> 0.898."""
        scores = reranker.score(query, [records[c].chunk.text for c in head])
        return dict(sorted(zip(head, scores, strict=True), key=lambda x: x[1], reverse=True))

    def _rerank_stored(
        self,
        query: str,
        qvec: np.ndarray | None,
        reranker: VectorReranker,
        head: list[int],
        bm25: dict[int, float] | None,
    ) -> dict[int, float]:
        """The vector reranker's scores of the head candidates, from their stored vectors."""
        if qvec is None:  # a BM25-only search has not embedded the question
            qvec = self.index.embedder.embed_query(query)
        stored = self.index.vectors(head)
        head = [c for c in head if c in stored]  # a document deleted meanwhile drops out
        if not head:
            return {}
        lexical = None if bm25 is None else [bm25.get(c, 0.0) for c in head]
        scores = reranker.score_stored(qvec, np.stack([stored[c] for c in head]), lexical)
        return dict(sorted(zip(head, scores, strict=True), key=lambda x: x[1], reverse=True))

    def likeliest(self, queries: Sequence[str], collections: Sequence[str]) -> str:
        """The one of ``queries`` that the documents bear out best (:meth:`fit`); the first
        if none finds anything."""
        scores, _ = self.fit(queries, collections)
        return queries[int(np.argmax(scores))]

    def fit(
        self,
        queries: Sequence[str],
        collections: Sequence[str],
        entities: Sequence[str] | None = None,
        asked: str | None = None,
    ) -> tuple[list[float], float]:
        """How well the documents in ``collections`` bear out each of ``queries`` (the readings
        of a follow-up: "what is its core curriculum?" with "its" as each entity named before),
        and the margin within which two of these scores are a tie.

        A reading is borne out by a passage that says what was ``asked`` (the follow-up's
        content; else the reading) of its entity: the score is the largest share of the
        asked BM25 terms (words; CJK bigrams; each weighed by how few of the passages near
        any reading hold it) that two neighbouring sentences of one of the reading's nearest
        passages hold, a passage that names the reading's entity (of ``entities``, one per
        query), or :data:`UNBORNE` less where none does. "What mechanism
        can be used to make teach?" finds passages about teaching, whose sentences say nothing
        of a mechanism; "... to make oxygen?" finds the one that does. The entity's own words
        are not counted, so a longer name scores no more for being longer. The nearest
        passages: by the embedder where it reads the queries' script (one batch of
        embeddings), else by BM25; the embedder's cosine breaks ties.
        """
        named = list(entities) if entities is not None else [None] * len(queries)
        cjk = any(cjk_ratio(q) >= CJK_QUERY_RATIO for q in queries)
        if cjk and not self.index.embedder.reads_cjk:
            near = [
                [
                    (h.chunk.text, 0.0)
                    for h in self.search(q, collections, FIT_HITS, "bm25", False).hits
                ]
                for q in queries
            ]
        else:
            near = self._nearest_texts(queries, collections)
        texts = {text for passages in near for text, _ in passages}
        scores = [
            _borne_out(asked or query, entity, passages, texts)
            for query, entity, passages in zip(queries, named, near, strict=True)
        ]
        return scores, FIT_MARGIN

    def _nearest_texts(
        self, queries: Sequence[str], collections: Sequence[str]
    ) -> list[list[tuple[str, float]]]:
        """Each query's nearest chunks by the embedder: their text and cosine."""
        vectors = self.index.embedder.embed_queries(list(queries))
        near = [
            [pair for c in collections for pair in self.index.dense_search(c, v, FIT_HITS)]
            for v in vectors
        ]
        with self.index.reading():
            records = self.index.chunks(sorted({cid for pairs in near for cid, _ in pairs}))
        return [[(records[c].chunk.text, s) for c, s in pairs if c in records] for pairs in near]

    def evidence(self, query: str, hits: Sequence[Hit]) -> Evidence:
        """How well the best of ``hits`` matches ``query`` (see :mod:`retrieval.evidence`)."""
        return measure(query, hits, self.settings)

    def excerpts(self, query: str, hits: Sequence[Hit], sentences: int | None = None) -> list[Hit]:
        """The sentences of ``hits`` that bear on ``query`` (see :mod:`retrieval.excerpts`)."""
        n = self.settings.excerpt_sentences if sentences is None else sentences
        reranker = self.reranker
        if reranker is not None and hits:  # sentences in the other script: multilingual vectors
            reranker = self._across(query, reranker, hits[0].chunk.text, [])
        return excerpt(query, hits, n, reranker)


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
