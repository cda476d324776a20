"""Run a question set through retrieval set-ups and prompt strategies, and score both.

Each question is searched once per retrieval set-up; the first set-up's hits (the one ``/ask``
uses) are answered once per strategy, so strategies compare on identical sources.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from core.errors import InvalidRequestError
from core.types import Answer, Hit, Strategy
from evaluation.dataset import EvalQuestion
from evaluation.metrics import (
    answer_rank,
    exact_match,
    holds_answer,
    mean_reciprocal_rank,
    recall_at,
    rouge_l,
    strip_citations,
    token_f1,
)
from kbqa.app import KBQA

RETRIEVAL_SETUPS: dict[str, tuple[str, bool]] = {  # name -> (mode, rerank)
    "hybrid+rerank": ("hybrid", True),
    "hybrid": ("hybrid", False),
    "dense": ("dense", False),
    "bm25": ("bm25", False),
    "bm25+rerank": ("bm25", True),
}
MRR_DEPTH = 10


class RetrievalScores(BaseModel):
    questions: int = Field(description="Answerable questions scored.")
    recall_at_k: float = Field(description="A top-k chunk of the gold document holds an answer.")
    mrr_at_10: float
    page_hit_at_k: float | None = Field(
        description="A top-k chunk of the gold document covers the gold page (None: no pages)."
    )
    budget_recall: float = Field(
        description="An answer lies within the first budget characters of ranked text."
    )
    budget_recall_at_k: float = Field(
        description="A top-k chunk holds an answer within the first budget characters."
    )
    budget_mrr_at_10: float = Field(
        description="MRR@10 counting an answer only within the first budget characters."
    )
    ms_per_query_p50: float


class ShownScores(BaseModel):
    """What the chat model is shown: the excerpts of the first set-up's top-k chunks, or none
    where the evidence gate refuses the question (:meth:`KBQA.sources`)."""

    questions: int = Field(description="Answerable questions scored.")
    recall: float = Field(description="Share of them where a passage shown holds an answer.")
    chars_mean: float = Field(description="Characters shown per question, on average.")


class AnswerScores(BaseModel):
    questions: int = Field(description="Answerable questions scored.")
    exact_match: float
    f1: float
    rouge_l: float
    answered: float = Field(description="Share of answerable questions not refused.")
    citation_correct: float | None = Field(
        description="Share of answers that cite a chunk holding a gold answer."
    )
    unanswerable: int = Field(description="Questions whose answer is not in the collection.")
    refusal_rate: float | None = Field(description="Share of those that were refused.")
    seconds_per_answer_p50: float
    seconds_per_answer_mean: float


class QuestionResult(BaseModel):
    id: str
    question: str
    answers: list[str]
    ranks: dict[str, int | None] = Field(description="Rank of the first answer-holding chunk.")
    predictions: dict[str, str] = Field(default_factory=dict)
    f1: dict[str, float] = Field(default_factory=dict)
    refused: dict[str, bool] = Field(default_factory=dict)
    citations: dict[str, list[str]] = Field(default_factory=dict)


class Report(BaseModel):
    dataset: str
    collections: list[str]
    model: str
    k: int
    budget_chars: int
    retrieval: dict[str, RetrievalScores]
    shown: ShownScores | None = None
    answers: dict[str, AnswerScores]
    results: list[QuestionResult]


@dataclass
class EvalConfig:
    collections: list[str]
    strategies: Sequence[Strategy] = ("zero-shot", "few-shot", "chain-of-thought")
    retrieval: Sequence[str] = ("hybrid+rerank", "hybrid", "dense", "bm25")
    k: int = 5
    budget_chars: int = 4000
    answers: bool = True  # False scores retrieval alone, with no chat model

    def __post_init__(self) -> None:
        unknown = [name for name in self.retrieval if name not in RETRIEVAL_SETUPS]
        if unknown or not self.retrieval:
            raise InvalidRequestError(
                f"retrieval set-ups must be among {', '.join(RETRIEVAL_SETUPS)}, got {unknown}"
            )


@dataclass
class _Observed:
    """What one question produced, before scores are averaged."""

    question: EvalQuestion
    hits: dict[str, list[Hit]]
    search_s: dict[str, float]
    shown: list[Hit]
    answers: dict[str, Answer]
    answer_s: dict[str, float]


def first_rank(
    hits: Sequence[Hit],
    q: EvalQuestion,
    depth: int,
    budget: int | None = None,
    holds: Callable[[str, Sequence[str]], bool] = holds_answer,
) -> int | None:
    """:func:`~evaluation.metrics.answer_rank` of a question over ranked hits."""
    ranked = [(hit.filename, hit.chunk.text) for hit in hits]
    return answer_rank(ranked, q.answers, q.document, depth, budget, holds)


def page_hit(hits: Sequence[Hit], q: EvalQuestion) -> bool:
    return any(
        (q.document is None or h.filename == q.document)
        and q.page is not None
        and h.chunk.page_start <= q.page <= h.chunk.page_end
        for h in hits
    )


class Evaluator:
    def __init__(self, kb: KBQA, config: EvalConfig) -> None:
        self.kb = kb
        self.config = config

    def steps(self, questions: Sequence[EvalQuestion]) -> int:
        """Units of work, for a progress bar: one per search and one per answer."""
        per_question = len(self.config.retrieval)
        if self.config.answers:
            per_question += len(self.config.strategies)
        return len(questions) * per_question

    def run(
        self,
        questions: Sequence[EvalQuestion],
        dataset: str,
        advance: Callable[[], None] = lambda: None,
    ) -> Report:
        observed = [self._observe(q, advance) for q in questions]
        c = self.config
        retrieval = {name: self._score_retrieval(name, observed) for name in c.retrieval}
        shown = _score_shown(observed)
        answers = {s: self._score_answers(s, observed) for s in c.strategies} if c.answers else {}
        return Report(
            dataset=dataset,
            collections=c.collections,
            model=self.kb.model_name if c.answers else "none",
            k=c.k,
            budget_chars=c.budget_chars,
            retrieval=retrieval,
            shown=shown,
            answers=answers,
            results=[self._result(o) for o in observed],
        )

    def _observe(self, q: EvalQuestion, advance: Callable[[], None]) -> _Observed:
        c, kb = self.config, self.kb
        hits, search_s = {}, {}
        for name in c.retrieval:
            mode, rerank = RETRIEVAL_SETUPS[name]
            start = time.perf_counter()
            found = kb.search(q.question, c.collections, max(c.k, MRR_DEPTH), mode, rerank)
            search_s[name] = time.perf_counter() - start
            hits[name] = found.hits
            advance()
        answers: dict[str, Answer] = {}
        answer_s: dict[str, float] = {}
        start = time.perf_counter()
        sources, _ = kb.sources(q.question, hits[c.retrieval[0]][: kb.settings.retrieval.top_k])
        before = time.perf_counter() - start + search_s[c.retrieval[0]]
        if c.answers:
            for strategy in c.strategies:
                start = time.perf_counter()
                answers[strategy] = kb.answer_from(q.question, sources, strategy)
                answer_s[strategy] = time.perf_counter() - start + before
                advance()
        return _Observed(q, hits, search_s, sources, answers, answer_s)

    def _score_retrieval(self, name: str, observed: list[_Observed]) -> RetrievalScores:
        c = self.config
        scored = [o for o in observed if o.question.answerable]
        ranks = [first_rank(o.hits[name], o.question, MRR_DEPTH) for o in scored]
        budget = [first_rank(o.hits[name], o.question, MRR_DEPTH, c.budget_chars) for o in scored]
        paged = [o for o in scored if o.question.page is not None]
        page_hits = sum(page_hit(o.hits[name][: c.k], o.question) for o in paged)
        return RetrievalScores(
            questions=len(scored),
            recall_at_k=recall_at(ranks, c.k),
            mrr_at_10=mean_reciprocal_rank(ranks),
            page_hit_at_k=page_hits / len(paged) if paged else None,
            budget_recall=recall_at(budget, MRR_DEPTH),
            budget_recall_at_k=recall_at(budget, c.k),
            budget_mrr_at_10=mean_reciprocal_rank(budget),
            ms_per_query_p50=1000 * _median([o.search_s[name] for o in observed]),
        )

    def _score_answers(self, strategy: str, observed: list[_Observed]) -> AnswerScores:
        answerable = [o for o in observed if o.question.answerable]
        unanswerable = [o for o in observed if not o.question.answerable]
        em = f1 = rl = 0.0
        answered = cited_right = 0
        for o in answerable:
            answer, golds = o.answers[strategy], o.question.answers
            prediction = strip_citations(answer.answer) if answer.grounded else ""
            em += exact_match(prediction, golds)
            f1 += token_f1(prediction, golds)
            rl += rouge_l(prediction, golds)
            if answer.grounded:
                answered += 1
                cited_right += any(holds_answer(c.text, golds) for c in answer.citations)
        refused = sum(not o.answers[strategy].grounded for o in unanswerable)
        n = max(len(answerable), 1)
        seconds = [o.answer_s[strategy] for o in observed]
        return AnswerScores(
            questions=len(answerable),
            exact_match=em / n,
            f1=f1 / n,
            rouge_l=rl / n,
            answered=answered / n,
            citation_correct=cited_right / answered if answered else None,
            unanswerable=len(unanswerable),
            refusal_rate=refused / len(unanswerable) if unanswerable else None,
            seconds_per_answer_p50=_median(seconds),
            seconds_per_answer_mean=statistics.fmean(seconds) if seconds else 0.0,
        )

    def _result(self, o: _Observed) -> QuestionResult:
        q = o.question
        result = QuestionResult(
            id=q.id,
            question=q.question,
            answers=q.answers,
            ranks={name: first_rank(h, q, MRR_DEPTH) for name, h in o.hits.items()}
            if q.answerable
            else {},
        )
        for strategy, answer in o.answers.items():
            prediction = strip_citations(answer.answer) if answer.grounded else ""
            result.predictions[strategy] = answer.answer
            result.f1[strategy] = token_f1(prediction, q.answers) if q.answerable else 0.0
            result.refused[strategy] = not answer.grounded
            result.citations[strategy] = [f"{c.filename} p. {c.page}" for c in answer.citations]
        return result


def _score_shown(observed: list[_Observed]) -> ShownScores | None:
    scored = [o for o in observed if o.question.answerable]
    if not scored:
        return None
    held = sum(any(holds_answer(h.chunk.text, o.question.answers) for h in o.shown) for o in scored)
    shown = [sum(len(h.chunk.text) for h in o.shown) for o in scored]
    return ShownScores(
        questions=len(scored), recall=held / len(scored), chars_mean=statistics.fmean(shown)
    )


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0
