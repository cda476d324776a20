"""Rerankers re-score (query, passage) pairs. Backends are picked by name from settings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import numpy as np

from core.registry import Registry
from core.settings import RetrievalSettings

T = TypeVar("T")


class TokenEncoder(Protocol):
    def token_embeddings(self, texts: Sequence[str]) -> list[np.ndarray]: ...


class Reranker(ABC):
    name: str
    reads_cjk: bool = True  # False: its scores for CJK text are noise, so CJK queries skip it

    @abstractmethod
    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage; higher is better."""


class MaxSimReranker(Reranker):
    """ColBERT-style late interaction over an embedder's token vectors, with no training:
    each query token is matched to its most similar passage token, and the similarities averaged.
    """

    name = "maxsim"

    def __init__(self, encoder: TokenEncoder) -> None:
        self.encoder = encoder
        self.reads_cjk = bool(getattr(encoder, "reads_cjk", False))

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        on_device = getattr(self.encoder, "token_tensors", None)
        if on_device is not None and getattr(self.encoder, "device", "cpu") != "cpu":
            from retrieval.maxsim import maxsim_scores  # on the GPU the embedder runs on

            tensors = on_device([query, *passages])
            return maxsim_scores(tensors[0], tensors[1:])
        vectors = self.encoder.token_embeddings([query, *passages])
        q = vectors[0]
        if not len(q):
            return [0.0] * len(passages)
        return [float((q @ p.T).max(axis=1).mean()) if len(p) else 0.0 for p in vectors[1:]]


class QueryEncoder(Protocol):
    reads_cjk: bool

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class VectorReranker(Reranker):
    """Re-scores the fused candidates by the cosine of the question's vector with each
    candidate's vector as the index stores it, blended with the candidate's BM25 score.

    No model reads the candidates at search time (MaxSim ran the transformer over the 20
    candidates' texts for every question), so a search costs the same at a thousand chunks as
    at a million, and it reads whatever language the embedder reads. docs/chinese.md measures it.
    """

    name = "vectors"

    def __init__(self, encoder: QueryEncoder, weight: float) -> None:
        self.encoder = encoder
        self.weight = weight  # of the cosine; the rest is BM25's, scaled to the best candidate's
        self.reads_cjk = bool(getattr(encoder, "reads_cjk", False))

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Texts that are not stored (an answer's sentences) are embedded here."""
        if not passages:
            return []
        return self.score_stored(self.encoder.embed_query(query), self.encoder.embed(passages))

    def score_stored(
        self, query: np.ndarray, vectors: np.ndarray, lexical: Sequence[float] | None = None
    ) -> list[float]:
        """Scores of candidates from their stored (unit) vectors and BM25 scores (0: not
        among BM25's candidates; None: no BM25 ranking, cosine alone)."""
        cosine = vectors @ query
        if lexical is None or self.weight >= 1:
            return [float(c) for c in cosine]
        bm25 = np.asarray(lexical, dtype=np.float32)
        bm25 = bm25 / max(float(bm25.max(initial=0.0)), 1e-9)
        return [float(s) for s in self.weight * cosine + (1 - self.weight) * bm25]


class CrossEncoderReranker(Reranker):
    """A sentence-transformers CrossEncoder from a local folder or a name."""

    name = "cross-encoder"

    def __init__(self, model: str, device: str | None = None) -> None:
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(model, device=device)

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        return [float(s) for s in self.model.predict([(query, p) for p in passages])]


Factory = Callable[
    [RetrievalSettings, "QueryEncoder | None", "TokenEncoder | None"], Reranker | None
]
RERANKERS: Registry[Factory] = Registry("reranker")
MAXSIM_NEEDS = (
    "the maxsim reranker needs token vectors, which only the sentence-transformers embedder "
    "gives: set KBQA_RETRIEVAL__RERANKER=vectors (or none)"
)
RERANKERS.add("none", lambda settings, embedder, tokens: None)
RERANKERS.add(
    "maxsim", lambda settings, embedder, tokens: MaxSimReranker(_require(tokens, MAXSIM_NEEDS))
)
RERANKERS.add(
    "vectors",
    lambda settings, embedder, tokens: VectorReranker(
        _require(embedder, "the vectors reranker needs the embedder"), settings.vector_weight
    ),
)
RERANKERS.add(
    "cross-encoder",
    lambda settings, embedder, tokens: CrossEncoderReranker(
        _require(settings.cross_encoder_model, "set retrieval.cross_encoder_model")
    ),
)


def make_reranker(
    settings: RetrievalSettings, embedder: QueryEncoder | None, tokens: TokenEncoder | None = None
) -> Reranker | None:
    """The reranker that settings name over the index's embedder, or None when reranking is
    off. MaxSim needs token vectors: ``tokens``' (another model's), else the embedder's if it
    gives them (sentence-transformers)."""
    encoder = tokens or (embedder if hasattr(embedder, "token_embeddings") else None)
    return RERANKERS.get(settings.reranker)(settings, embedder, encoder)  # type: ignore[arg-type]


def _require(value: T | None, message: str) -> T:
    if value is None:
        raise ValueError(message)
    return value
