"""Conversations built from a question set, for ``kbqa eval --chat``: earlier questions, then a
second question as a person would ask it there. Its gold answers are those of the question
as written in the set, which is also asked alone, explicitly, to compare with.

Five kinds, each built only from what the set holds (the text rules: :mod:`evaluation.subjects`):

- **unrelated**: a question after one about another document; asked as it is.
- **follow-up**: after a question of the same document that shares its subject, the second
  with that subject as a pronoun: "When was it built?" after "Who kept Brookhaven's light?".
- **two-turns**: the same follow-up, with an unrelated question (another document) between:
  the pronoun points two questions back, past a more recent thing it does not fit.
- **ellipsis**: the second question said with only what differs from the first, the subject
  dropped: "And its summer festival?", "那栖息在哪儿呢？", "那么它的分子式呢？".
- **previous-answer**: a question about what the first one's answer names, that name as a
  pronoun: "For what other action did Mayow show it responsible?" after "What is consumed in
  both combustion and respiration?" (answered "nitroaereus").
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evaluation.dataset import EvalQuestion
from evaluation.subjects import answer_entity, ellipsis, shared_subject, with_pronoun

Kind = Literal["unrelated", "follow-up", "two-turns", "ellipsis", "previous-answer"]
KINDS: tuple[Kind, ...] = ("unrelated", "follow-up", "two-turns", "ellipsis", "previous-answer")


@dataclass(frozen=True)
class ChatCase:
    kind: Kind
    earlier: tuple[EvalQuestion, ...]  # asked first, in order, each answered by the model
    second: EvalQuestion
    asked: str  # the second question as asked in the conversation

    @property
    def first(self) -> EvalQuestion:
        return self.earlier[0]


def build_cases(questions: Sequence[EvalQuestion], n: int | None, seed: int = 0) -> list[ChatCase]:
    """Up to ``n`` conversations of each kind (all that can be made when None), seeded: the
    same questions and seed make the same cases."""
    rng = random.Random(seed)
    answerable = [q for q in questions if q.answerable]
    cases: list[ChatCase] = []
    for kind in KINDS:
        made = [c for q in answerable if (c := _case(kind, q, answerable, rng)) is not None]
        cases += made if n is None or n >= len(made) else rng.sample(made, n)
    return cases


def _case(
    kind: Kind, second: EvalQuestion, pool: Sequence[EvalQuestion], rng: random.Random
) -> ChatCase | None:
    if kind == "unrelated":
        others = [q for q in pool if _apart(q, second)]
        return ChatCase(kind, (rng.choice(others),), second, second.question) if others else None
    if kind == "previous-answer":
        return _previous_answer(second, pool)
    for subject, first in _sharing(second, pool):
        if kind == "ellipsis":
            if asked := ellipsis(first.question, second.question, subject):
                return ChatCase(kind, (first,), second, asked)
            continue
        asked = with_pronoun(second.question, subject)
        if asked is None or asked == second.question:
            return None
        if kind == "follow-up":
            return ChatCase(kind, (first,), second, asked)
        between = [q for q in pool if _apart(q, second) and _apart(q, first)]
        return ChatCase(kind, (first, rng.choice(between)), second, asked) if between else None
    return None


def _sharing(
    second: EvalQuestion, pool: Sequence[EvalQuestion]
) -> Iterator[tuple[str, EvalQuestion]]:
    """The questions of ``second``'s document that share a subject with it, with the subject,
    the longest subject first (the first of the set among equals)."""
    title = Path(second.document).stem.replace("_", " ") if second.document else None
    found = []
    for first in pool:
        if first is second or not _same_document(first, second):
            continue
        if subject := shared_subject(second.question, first.question, title):
            found.append((subject, first))
    found.sort(key=lambda pair: -len(pair[0]))  # stable: the set's order among equals
    yield from found


def _previous_answer(second: EvalQuestion, pool: Sequence[EvalQuestion]) -> ChatCase | None:
    """``second`` after a question whose answer names what it is about, that name as a
    pronoun; a question of the same document first."""
    firsts = sorted(pool, key=lambda q: not _same_document(q, second))
    for first in firsts:
        if first is second:
            continue
        entity = answer_entity(first.question, first.answers, second.question)
        if entity and (asked := with_pronoun(second.question, entity)):
            return ChatCase("previous-answer", (first,), second, asked)
    return None


def _same_document(a: EvalQuestion, b: EvalQuestion) -> bool:
    return a.document is None or b.document is None or a.document == b.document


def _apart(a: EvalQuestion, b: EvalQuestion) -> bool:
    """Unrelated: other documents, or (documents unknown) no subject in common."""
    if a.document is not None and b.document is not None:
        return a.document != b.document
    return a is not b and shared_subject(b.question, a.question) is None
