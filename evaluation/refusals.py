"""Refusals scored: is a question refused when, and only when, the collection lacks its answer?

``kbqa eval DATASET --refusals`` asks each question of a dataset folder (``pdfs/`` and
``questions.jsonl`` naming each answer's PDF) as

- **answerable**: against the whole collection; it should be answered;
- **unanswerable**: against the same collection without the question's PDF (built by indexing
  every other PDF); it should be refused. So should the set's own unanswerable questions.

Every case records the evidence of its search (:mod:`retrieval.evidence`): what the gate that
refuses before the model is asked would decide at any threshold. The questions fall into two
halves by a hash of their id: thresholds are picked on the ``tune`` half, and the error rates
that count are those of the ``test`` half, which the picking never saw. With answers, each
case also goes through the ``/ask`` path, and a refusal's cause is recorded: ``evidence``
(the gate), ``support`` (the model's answer withheld as unsupported) or ``model``.
"""

from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, Field
from rich.table import Table

from core.types import Evidence, Strategy
from core.types import EvidenceSignal as Signal
from evaluation.dataset import EvalQuestion
from evaluation.metrics import strip_citations, token_f1
from kbqa.app import KBQA

Half = Literal["tune", "test"]
HALVES: tuple[Half, ...] = ("tune", "test")
Cause = Literal["evidence", "support", "model"]
# The share of the tune half's answerable questions the picked threshold may refuse: half of
# the 5% that all refusals of answerable questions may reach, the rest left to the model.
GATE_SHARE = 0.025


def half_of(question_id: str) -> Half:
    """The half a question falls in, by a hash of its id: stable across runs and samples."""
    return HALVES[hashlib.sha256(question_id.encode()).digest()[0] % 2]


def held_out_name(collection: str, pdf_stem: str) -> str:
    """The collection without one PDF: ``<collection>-without-<stem>``, within 64 characters."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", pdf_stem)
    return f"{collection}-without-{stem}"[:64]


@dataclass(frozen=True)
class RefusalCase:
    question: EvalQuestion
    collection: str
    answerable: bool

    @property
    def half(self) -> Half:
        return half_of(self.question.id)


def build_cases(
    questions: Sequence[EvalQuestion], collection: str, documents: Sequence[str]
) -> list[RefusalCase]:
    """Each answerable question against ``collection`` and against the collection without its
    document (when that document is one of ``documents``), each unanswerable one against
    ``collection``."""
    cases = []
    for q in questions:
        cases.append(RefusalCase(q, collection, q.answerable))
        if q.answerable and q.document is not None and q.document in documents:
            stem = q.document.rsplit(".", 1)[0]
            cases.append(RefusalCase(q, held_out_name(collection, stem), False))
    return cases


class CaseResult(BaseModel):
    id: str
    question: str
    collection: str
    answerable: bool
    half: Half
    signal: Signal
    evidence: float = Field(description="The evidence score of the question's search.")
    answer: str | None = None
    refused: bool | None = Field(None, description="With answers: refused or withheld.")
    cause: Cause | None = None
    f1: float | None = None


class RefusalScores(BaseModel):
    answerable: int
    answerable_refused: float | None = Field(description="Target: 5% or less.")
    unanswerable: int
    unanswerable_refused: float | None = Field(description="Target: 60% or more.")
    f1: float | None = Field(None, description="Mean token F1 of the answerable cases.")
    causes: dict[str, int] = Field(default_factory=dict, description="Refusals by cause.")


class RefusalReport(BaseModel):
    dataset: str
    model: str
    strategy: str | None
    thresholds: dict[str, float | None] = Field(description="Configured, per signal.")
    tuned: dict[str, float | None] = Field(description="Picked on the tune half, per signal.")
    gate: dict[str, RefusalScores] = Field(
        description="'<half>, configured' and '<half>, tuned': the evidence gate alone."
    )
    answers: dict[str, RefusalScores] = Field(description="Per half, through the /ask path.")
    results: list[CaseResult]


class RefusalEvaluator:
    """Searches (and with ``strategy``, asks) every case through the service."""

    def __init__(self, kb: KBQA, strategy: Strategy | None) -> None:
        self.kb = kb
        self.strategy = strategy

    def run(
        self, cases: Sequence[RefusalCase], dataset: str, advance: Callable[[], None] = lambda: None
    ) -> RefusalReport:
        results = [self._observe(case, advance) for case in cases]
        settings = self.kb.settings.retrieval
        configured: dict[str, float | None] = {
            "rerank": settings.min_maxsim,
            "coverage": settings.min_coverage,
            "cosine": settings.min_cosine,
        }
        signals: tuple[Signal, ...] = get_args(Signal)
        tuned: dict[str, float | None] = {s: pick_threshold(results, s) for s in signals}
        gate: dict[str, RefusalScores] = {}
        for half in HALVES:
            mine = [r for r in results if r.half == half]
            gate[f"{half}, configured"] = gate_scores(mine, configured)
            gate[f"{half}, tuned"] = gate_scores(mine, tuned)
        answers = {}
        if self.strategy is not None:
            answers = {h: answer_scores([r for r in results if r.half == h]) for h in HALVES}
        return RefusalReport(
            dataset=dataset,
            model=self.kb.model_name if self.strategy else "none",
            strategy=self.strategy,
            thresholds=configured,
            tuned=tuned,
            gate=gate,
            answers=answers,
            results=results,
        )

    def _observe(self, case: RefusalCase, advance: Callable[[], None]) -> CaseResult:
        q, kb = case.question, self.kb
        found = kb.search(q.question, [case.collection])
        evidence: Evidence = kb.evidence(q.question, found.hits)
        result = CaseResult(
            id=q.id,
            question=q.question,
            collection=case.collection,
            answerable=case.answerable,
            half=case.half,
            signal=evidence.signal,
            evidence=round(evidence.score, 4),
        )
        if self.strategy is not None:
            answer = kb.ask(q.question, collections=[case.collection], strategy=self.strategy)
            result.answer = answer.answer
            result.refused = not answer.grounded
            if result.refused:
                result.cause = _cause(evidence, answer.unsupported_answer)
            if case.answerable:
                prediction = strip_citations(answer.answer) if answer.grounded else ""
                result.f1 = token_f1(prediction, q.answers)
        advance()
        return result


def _cause(evidence: Evidence, unsupported: str | None) -> Cause:
    if evidence.weak:
        return "evidence"
    return "support" if unsupported is not None else "model"


def pick_threshold(results: Sequence[CaseResult], signal: Signal) -> float | None:
    """On the tune half: the highest threshold that refuses at most :data:`GATE_SHARE` of the
    answerable questions whose evidence is ``signal`` (rounded down to 0.005); None without
    any."""
    scores = sorted(
        r.evidence for r in results if r.half == "tune" and r.answerable and r.signal == signal
    )
    if not scores:
        return None
    allowed = math.floor(GATE_SHARE * len(scores))  # scores strictly below refuse
    return math.floor(scores[allowed] * 200) / 200


def _gated(result: CaseResult, thresholds: dict[str, float | None]) -> bool:
    threshold = thresholds.get(result.signal)
    return threshold is not None and threshold > 0 and result.evidence < threshold


def gate_scores(
    results: Sequence[CaseResult], thresholds: dict[str, float | None]
) -> RefusalScores:
    """What the evidence gate alone refuses at ``thresholds``."""
    return _scores(results, lambda r: _gated(r, thresholds))


def answer_scores(results: Sequence[CaseResult]) -> RefusalScores:
    """What the ``/ask`` path refused, with causes and the answerable cases' F1."""
    scores = _scores(results, lambda r: bool(r.refused))
    f1s = [r.f1 for r in results if r.answerable and r.f1 is not None]
    scores.f1 = statistics.fmean(f1s) if f1s else None
    for r in results:
        if r.refused and r.cause:
            key = f"{'answerable' if r.answerable else 'unanswerable'}: {r.cause}"
            scores.causes[key] = scores.causes.get(key, 0) + 1
    return scores


def _scores(results: Sequence[CaseResult], refused: Callable[[CaseResult], bool]) -> RefusalScores:
    answerable = [refused(r) for r in results if r.answerable]
    unanswerable = [refused(r) for r in results if not r.answerable]
    return RefusalScores(
        answerable=len(answerable),
        answerable_refused=statistics.fmean(answerable) if answerable else None,
        unanswerable=len(unanswerable),
        unanswerable_refused=statistics.fmean(unanswerable) if unanswerable else None,
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def refusal_table(report: RefusalReport) -> Table:
    """Both error rates per half: the gate alone, then (with answers) the ``/ask`` path."""
    table = Table(title=f"Refusals ({report.model}); thresholds tuned: {report.tuned}")
    for header in ("set-up", "answerable", "refused", "unanswerable", "refused", "F1", "causes"):
        table.add_column(header, justify="left" if header in ("set-up", "causes") else "right")
    rows = [(f"gate alone, {name}", s) for name, s in report.gate.items()]
    rows += [(f"answers, {half}", s) for half, s in report.answers.items()]
    for name, s in rows:
        table.add_row(
            name,
            str(s.answerable),
            _share(s.answerable_refused),
            str(s.unanswerable),
            _share(s.unanswerable_refused),
            "-" if s.f1 is None else f"{s.f1:.3f}",
            ", ".join(f"{k} {v}" for k, v in sorted(s.causes.items())),
        )
    return table
