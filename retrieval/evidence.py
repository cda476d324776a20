"""Evidence: how well the best retrieved passage matches a question, before any model reads it.

A small chat model asked about something the collection lacks answers anyway, from its memory
or from a passage about something else. Whether the collection holds anything on the question
shows in retrieval's scores, so a question whose best passage matches it weakly is refused
without asking the model (``kbqa eval --refusals`` measures both error rates). The signal:

- ``rerank``: the MaxSim score of the top passage, where the MaxSim reranker read the query
  (English, with the packaged MiniLM);
- ``coverage`` otherwise (a CJK query, which MiniLM cannot read; another reranker, or none):
  the share of the query's BM25 terms (words; CJK: character bigrams) that the best sentence
  of the top passages holds, read under its heading;
- ``cosine`` where the top passage is in the other script than the query (a Chinese
  question about English documents), which share no term with it and which MiniLM cannot
  read both sides of: the best cosine of the multilingual embedder's question and passage
  vectors (the ``dense`` score).

A strong match works the other way: when the model refuses a question whose best passage scores
at least ``KBQA_RETRIEVAL__SURE_MAXSIM`` (or ``SURE_COVERAGE``), the refusal is taken for the
small model's mistake (it refused 4 of 60 answerable SQuAD questions whose passage held the
answer) and it is asked once more, told that the sources hold the answer.

The thresholds are settings (``KBQA_RETRIEVAL__MIN_MAXSIM``, ``KBQA_RETRIEVAL__MIN_COVERAGE``),
tuned on the shipped dev sets for the packaged embedder; another embedding model scores
MaxSim on another scale, and wants its own threshold (or 0: never refuse on evidence).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.settings import RetrievalSettings
from core.text import cjk_ratio
from core.types import Evidence, Hit
from retrieval.excerpts import CJK_QUERY_RATIO, other_script, overlap_scores, sentences_of


def measure(query: str, hits: Sequence[Hit], settings: RetrievalSettings) -> Evidence:
    """The evidence ``hits`` (ranked, best first) give for ``query``; none at all is weak.

    The rerank signal is used only for the MaxSim reranker, whose scores the threshold was
    tuned on (on English questions: a CJK one is reranked by the stored vectors, whose cosine
    is on another scale); a cross-encoder's logits live on another scale too.
    """
    dense = [h.scores["dense"] for h in hits if "dense" in h.scores]
    if dense and other_script(query, hits[0].chunk.text):
        return Evidence(signal="cosine", score=max(dense), threshold=settings.min_cosine)
    maxsim = settings.reranker == "maxsim" and cjk_ratio(query) < CJK_QUERY_RATIO
    if hits and maxsim and "rerank" in hits[0].scores:
        return Evidence(
            signal="rerank",
            score=hits[0].scores["rerank"],
            threshold=settings.min_maxsim,
            sure_threshold=settings.sure_maxsim,
        )
    return Evidence(
        signal="coverage",
        score=coverage(query, hits),
        threshold=settings.min_coverage,
        sure_threshold=settings.sure_coverage,
    )


def coverage(query: str, hits: Sequence[Hit]) -> float:
    """The largest share of the query's BM25 terms that one sentence of ``hits`` holds, read
    under its chunk's heading (0: no hits).

    A sentence, not a chunk: on CMRC's held-out questions it separated answerable from
    unanswerable better (a chunk gathers terms from sentences about other things). Under its
    heading, since an article names its subject there and seldom again: "杨朝祥在2011年被聘为
    什么职务？" was refused at 0.18 against the sentence that answers it in the article
    "杨朝祥", 0.36 with the heading. On the held-out CMRC set this refused 3 fewer of 284
    answerable questions and the same unanswerable ones (docs/evaluation.md#refusals)."""
    # On a line of its own, the heading's terms join the sentence's, no bigram across the two.
    read = [
        "\n".join(filter(None, [hits[i].chunk.heading, hits[i].chunk.text[s:e]]))
        for i, (s, e) in sentences_of(hits)
    ]
    return max(overlap_scores(query, read), default=0.0)
