"""BM25 over chunks with bm25s; a tokenizer that handles English and Chinese alike."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import bm25s
import jieba
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from core.text import CJK_CLASS, CJK_RE

jieba.setLogLevel(logging.WARNING)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
_WORDS = re.compile(rf"[{CJK_CLASS}]+|[^\W_]+", re.UNICODE)
# Question words carry no topic, and questions are what we search with.
_STOP = frozenset(STOPWORDS_EN) | {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
}
_CJK_PUNCT = re.compile(r"^[\u3000-\u303f\uff00-\uffef]+$")


def tokenize(text: str) -> list[str]:
    """Lower-cased words without English stopwords; CJK runs are cut into words by jieba
    (search mode, so both a long word and its parts match)."""
    tokens: list[str] = []
    for match in _WORDS.finditer(text.lower()):
        word = match.group()
        if CJK_RE.match(word):
            tokens.extend(t for t in jieba.cut_for_search(word) if not _CJK_PUNCT.match(t))
        elif word not in _STOP:
            tokens.append(word)
    return tokens


class LexicalIndex:
    """An in-memory BM25 index over one collection's chunks, rebuilt from stored tokens."""

    def __init__(self, chunk_ids: Sequence[int], token_lists: Sequence[list[str]]) -> None:
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        self._bm25: bm25s.BM25 | None = None
        if len(self.chunk_ids):
            self._bm25 = bm25s.BM25()
            # Empty token lists would make bm25s drop rows; a placeholder keeps ids aligned.
            self._bm25.index([t or ["\x00"] for t in token_lists], show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score) with a positive score."""
        tokens = tokenize(query)
        if self._bm25 is None or not tokens:
            return []
        k = min(k, len(self.chunk_ids))
        docs, scores = self._bm25.retrieve([tokens], k=k, show_progress=False, n_threads=1)
        return [
            (int(self.chunk_ids[d]), float(s))
            for d, s in zip(docs[0], scores[0], strict=True)
            if s > 0
        ]
