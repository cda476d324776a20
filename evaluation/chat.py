"""Conversations scored: is a second question answered as well in a conversation as alone?

The conversations are built from any question set (``kbqa eval --chat``; the kinds:
:mod:`evaluation.conversations`). Each kind's figure is the second question's mean token F1
in the conversation over its F1 asked alone, explicitly, as the set writes it. An unrelated
question should fare as well as alone; a follow-up, an ellipsis or a pointer at the previous
answer should come close (target 0.9x).

The answers to the earlier questions in the history are the model's own, as in a real
conversation.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field
from rich.table import Table

from core.types import Answer, Strategy, Turn
from evaluation.conversations import KINDS, ChatCase, Kind, build_cases
from evaluation.metrics import strip_citations, token_f1
from kbqa.app import KBQA

__all__ = ["ChatCase", "ChatEvaluator", "ChatReport", "build_cases", "chat_table"]


class ChatScores(BaseModel):
    conversations: int
    f1_alone: float = Field(description="Mean F1 of the second question, explicit, asked alone.")
    f1_in_conversation: float = Field(description="Mean F1 of the second question as asked.")
    ratio: float | None = Field(description="f1_in_conversation / f1_alone.")
    answered_alone: float
    answered_in_conversation: float
    seconds_alone_p50: float
    seconds_in_conversation_p50: float


class ChatResult(BaseModel):
    kind: Kind
    earlier: list[str] = Field(description="The questions asked before, in order.")
    second: str
    asked: str
    answers: list[str]
    searched: str = Field(description="What the conversation's second question searched for.")
    alone: str
    in_conversation: str
    f1_alone: float
    f1_in_conversation: float
    answered_alone: bool = Field(description="Not refused (nor withheld) alone.")
    answered_in_conversation: bool
    assumed: str | None = Field(
        None, description="What the answer in the conversation said it took a pronoun for."
    )


class ChatReport(BaseModel):
    dataset: str
    collections: list[str]
    model: str
    strategy: str
    scores: dict[str, ChatScores]
    results: list[ChatResult]


@dataclass
class _Timed:
    answer: Answer
    seconds: float


class ChatEvaluator:
    """Asks each conversation through :meth:`KBQA.ask`, as ``/ask`` does with a history."""

    def __init__(self, kb: KBQA, collections: Sequence[str], strategy: Strategy) -> None:
        self.kb = kb
        self.collections = list(collections)
        self.strategy = strategy
        self._alone: dict[str, _Timed] = {}

    def steps(self, cases: Sequence[ChatCase]) -> int:
        """Answers to generate, for a progress bar."""
        alone = {q.question for c in cases for q in (*c.earlier, c.second)}
        return len(alone) + len(cases)

    def run(
        self, cases: Sequence[ChatCase], dataset: str, advance: Callable[[], None] = lambda: None
    ) -> ChatReport:
        results, timings = [], []
        for case in cases:
            alone = self._ask_alone(case.second.question, advance)
            history = []
            for earlier in case.earlier:
                said = self._ask_alone(earlier.question, advance).answer.answer
                history += [
                    Turn(role="user", content=earlier.question),
                    Turn(role="assistant", content=said),
                ]
            start = time.perf_counter()
            talked = self.kb.ask(
                case.asked, collections=self.collections, strategy=self.strategy, history=history
            )
            timings.append((case.kind, alone.seconds, time.perf_counter() - start))
            advance()
            results.append(_result(case, alone.answer, talked))
        scores = {
            kind: _scores(
                [r for r in results if r.kind == kind], [t for t in timings if t[0] == kind]
            )
            for kind in KINDS
            if any(r.kind == kind for r in results)
        }
        return ChatReport(
            dataset=dataset,
            collections=self.collections,
            model=self.kb.model_name,
            strategy=self.strategy,
            scores=scores,
            results=results,
        )

    def _ask_alone(self, question: str, advance: Callable[[], None]) -> _Timed:
        if question not in self._alone:
            start = time.perf_counter()
            answer = self.kb.ask(question, collections=self.collections, strategy=self.strategy)
            self._alone[question] = _Timed(answer, time.perf_counter() - start)
            advance()
        return self._alone[question]


def _prediction(answer: Answer) -> str:
    return strip_citations(answer.answer) if answer.grounded else ""


def _result(case: ChatCase, alone: Answer, talked: Answer) -> ChatResult:
    golds = case.second.answers
    return ChatResult(
        kind=case.kind,
        earlier=[q.question for q in case.earlier],
        second=case.second.question,
        asked=case.asked,
        answers=golds,
        searched=talked.search_query or case.asked,
        alone=alone.answer,
        in_conversation=talked.answer,
        f1_alone=token_f1(_prediction(alone), golds),
        f1_in_conversation=token_f1(_prediction(talked), golds),
        answered_alone=alone.grounded,
        answered_in_conversation=talked.grounded,
        assumed=talked.note,
    )


def _scores(results: list[ChatResult], timings: list[tuple[str, float, float]]) -> ChatScores:
    alone = statistics.fmean(r.f1_alone for r in results)
    talked = statistics.fmean(r.f1_in_conversation for r in results)
    return ChatScores(
        conversations=len(results),
        f1_alone=alone,
        f1_in_conversation=talked,
        ratio=talked / alone if alone else None,
        answered_alone=statistics.fmean(r.answered_alone for r in results),
        answered_in_conversation=statistics.fmean(r.answered_in_conversation for r in results),
        seconds_alone_p50=statistics.median(t[1] for t in timings),
        seconds_in_conversation_p50=statistics.median(t[2] for t in timings),
    )


def chat_table(report: ChatReport) -> Table:
    table = Table(title=f"Second questions in a conversation ({report.model}, {report.strategy})")
    headers = (
        "second question",
        "n",
        "F1 alone",
        "F1 in conversation",
        "ratio",
        "answered",
        "s p50 alone",
        "s p50 in conversation",
    )
    table.add_column(headers[0], no_wrap=True)
    for header in headers[1:]:
        table.add_column(header, justify="right")
    for kind, s in report.scores.items():
        table.add_row(
            kind,
            str(s.conversations),
            f"{100 * s.f1_alone:.1f}",
            f"{100 * s.f1_in_conversation:.1f}",
            "-" if s.ratio is None else f"{s.ratio:.2f}x",
            f"{100 * s.answered_alone:.0f}% / {100 * s.answered_in_conversation:.0f}%",
            f"{s.seconds_alone_p50:.1f}",
            f"{s.seconds_in_conversation_p50:.1f}",
        )
    return table
