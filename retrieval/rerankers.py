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


Factory = Callable[[RetrievalSettings, TokenEncoder | None], Reranker | None]
RERANKERS: Registry[Factory] = Registry("reranker")
RERANKERS.add("none", lambda settings, encoder: None)
RERANKERS.add(
    "maxsim",
    lambda settings, encoder: MaxSimReranker(_require(encoder, "maxsim needs a token encoder")),
)
RERANKERS.add(
    "cross-encoder",
    lambda settings, encoder: CrossEncoderReranker(
        _require(settings.cross_encoder_model, "set retrieval.cross_encoder_model")
    ),
)


def make_reranker(settings: RetrievalSettings, encoder: TokenEncoder | None) -> Reranker | None:
    """The reranker that settings name, or None when reranking is off."""
    return RERANKERS.get(settings.reranker)(settings, encoder)


def _require(value: T | None, message: str) -> T:
    if value is None:
        raise ValueError(message)
    return value
