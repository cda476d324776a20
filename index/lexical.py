"""BM25 over chunks with bm25s; one tokenizer for English and CJK alike."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from core.text import CJK_CLASS

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

# Bump when tokenize() changes: stored tokens of an older version are rebuilt on open.
TOKENIZER_VERSION = "3-cjk-bigrams"
# A CJK run, or a word of other letters and digits (which must not run on into CJK text).
_WORDS = re.compile(rf"([{CJK_CLASS}]+)|[^\W_{CJK_CLASS}]+", re.UNICODE)
_CJK_PUNCT = re.compile(r"[\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")
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


def tokenize(text: str) -> list[str]:
    """Lower-cased words without English stopwords; CJK runs as overlapping character bigrams.

    Bigrams need no dictionary and match across word-segmentation differences (Lucene's
    CJKAnalyzer does the same). On CMRC 2018 they beat jieba's segmentation: BM25 answer-recall@5
    0.970 against 0.916 (bench/README.md).
    """
    tokens: list[str] = []
    for match in _WORDS.finditer(text.lower()):
        if match.group(1):
            for run in _CJK_PUNCT.split(match.group(1)):
                tokens.extend(run[i : i + 2] for i in range(max(len(run) - 1, 1)) if run)
        elif match.group() not in _STOP:
            tokens.append(match.group())
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
