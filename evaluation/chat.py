"""Conversations scored: is a second question answered as well in a conversation as alone?

Built from any question set (``kbqa eval --chat``), two kinds of two-question conversations:

- **unrelated**: question A, answered, then question B about another document. B should fare
  as it does asked alone: figure (a) is B's mean token F1 in the conversation over alone.
- **follow-up**: question A, then question B of the same document with the subject the two
  share replaced by a pronoun: "At what temperature will it condense?" after "What process is
  responsible for the planet's oxygen content?". Figure (b) is its F1 over that of B asked
  explicitly, alone.

A's answer in the history is the model's own, as in a real conversation.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from rich.table import Table

from core.types import Answer, Strategy, Turn
from evaluation.dataset import EvalQuestion
from evaluation.metrics import strip_citations, token_f1
from kbqa.app import KBQA

Kind = Literal["unrelated", "follow-up"]
KINDS: tuple[Kind, ...] = ("unrelated", "follow-up")

# Words that name no subject: function words, question words, and nouns any question uses.
_STOPWORDS = frozenset(
    """a an the of in on at to for from by with about as into over after before between and or
    but not no is are was were be been being do does did has have had can could will would
    shall should may might must what which who whom whose when where why how that this these
    those there it its they their them he his she her some any all each many much more most
    other another one two first also than then such very name names called type kind types
    """.split()  # noqa: SIM905 - a list of words reads better as one
)
_WORD = re.compile(r"[^\W_]+(?:[-–][^\W_]+)*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
# Chinese question words and particles: no subject spans them.
_ZH_FUNCTION = re.compile(
    r"什么时候|为什么|什么|哪些|哪里|哪儿|哪个|哪一|多少|怎么|怎样|如何|何时|是谁|谁|几|吗|呢|的|了|是|在|有|被|和|与"
    r"|[？?，,。、“”「」《》（）()！!\s]"
)
_MIN_SUBJECT_CHARS = 4  # English; Chinese needs 2 characters
_DETERMINERS = frozenset({"a", "an", "this", "that", "these", "those", "every", "each", "some"})
_BEFORE_A_SUBJECT = frozenset(
    """the is are was were will would does did do can could should may might must has have
    had""".split()  # noqa: SIM905
)
_PREPOSITIONS = frozenset(
    {"of", "in", "on", "at", "to", "for", "from", "by", "with", "about", "into", "over", "under"}
)
_ADJECTIVE_ENDINGS = ("ic", "al", "ive", "ous", "ful", "able", "ible", "ary", "ant", "ent")


@dataclass(frozen=True)
class ChatCase:
    kind: Kind
    first: EvalQuestion
    second: EvalQuestion
    asked: str  # the second question as asked in the conversation


def shared_subject(question: str, other: str, title: str | None = None) -> str | None:
    """The longest phrase of ``question`` that ``other`` names too and that can be the thing
    the question is about, as written in ``question``; None if there is none.

    English: up to four words that start and end with a content word, and are a name (written
    with capitals, not as the first word) or words of ``title`` (the document's, e.g.
    "University of Chicago"); not after "a"/"an" or an adjective, nor followed by a noun they
    qualify ("oxygen production"), in ``question`` and somewhere in ``other`` too. Chinese: two
    or more characters outside question words and particles, not the end of a longer word
    (莎莉公司's 公司) nor a verb (导致了).
    """
    if _CJK.search(question):
        return _shared_chinese(question, other)
    words = list(_WORD.finditer(question))
    other_lower = f" {' '.join(w.lower() for w in _WORD.findall(other))} "
    titled = {_singular(w.lower()) for w in _WORD.findall(title or "") if _content(w)}
    best: str | None = None
    seen: set[str] = set()  # a phrase is judged where it first occurs, where a pronoun goes
    for i in range(len(words)):
        for j in range(i, min(i + 4, len(words))):
            span = words[i : j + 1]
            phrase = question[span[0].start() : span[-1].end()]
            key = " ".join(w.group().lower() for w in span)
            if key in seen:
                continue
            seen.add(key)
            if (
                _content(span[0].group())
                and _content(span[-1].group())
                and len(phrase) >= _MIN_SUBJECT_CHARS
                and f" {key} " in other_lower
                and _a_subject_in(key, other)
                and _names_a_thing(span, i, titled)
                and _stands_as_noun(question, words, i, j)
                and (best is None or len(phrase) > len(best))
            ):
                best = phrase
    return best


def _content(word: str) -> bool:
    return len(word) >= 3 and word.lower() not in _STOPWORDS


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith(("ss", "us", "is")) else word


def _names_a_thing(span: list[re.Match[str]], start: int, titled: set[str]) -> bool:
    content = [w.group() for w in span if _content(w.group())]
    if titled and all(_singular(w.lower()) in titled for w in content):
        return True
    return start > 0 and all(w[0].isupper() for w in content)


def _stands_as_noun(question: str, words: list[re.Match[str]], i: int, j: int) -> bool:
    before = words[i - 1].group().lower() if i > 0 else ""
    if before in _DETERMINERS or before.endswith(_ADJECTIVE_ENDINGS):
        return False
    after = question[words[j].end() :]
    if re.match(r"\s+of\s+[A-Z]", after):  # part of a longer name: "University of Chicago"
        return False
    if re.match(r"['’]s\b", after):
        return True
    return not _qualifies_next(question, words, i, j)


def _qualifies_next(text: str, words: list[re.Match[str]], i: int, j: int) -> bool:
    """Whether ``words[i..j]`` of ``text`` is followed by a content word, a noun it qualifies
    ("oxygen production"), without standing where a subject does, before its verb ("will
    oxygen condense", "the university runs")."""
    before = words[i - 1].group().lower() if i > 0 else ""
    return (
        j + 1 < len(words)
        and _content(words[j + 1].group())
        and re.match(r"\s+\S", text[words[j].end() :]) is not None
        and before not in _BEFORE_A_SUBJECT
    )


def _a_subject_in(key: str, other: str) -> bool:
    """Whether ``other`` names ``key`` (lower-case words) as a thing of its own somewhere, not
    only qualifying the noun after it: "largest university press" is about a press, so a
    pronoun for "the university" after it would point at the press."""
    words = list(_WORD.finditer(other))
    size = len(key.split())
    for i in range(len(words) - size + 1):
        span = words[i : i + size]
        if " ".join(w.group().lower() for w in span) == key and not _qualifies_next(
            other, words, i, i + size - 1
        ):
            return True
    return False


def _shared_chinese(question: str, other: str) -> str | None:
    best = ""
    for segment in _ZH_FUNCTION.split(question):  # a subject starts a segment
        for end in range(len(segment), len(best), -1):
            if segment[:end] in other:
                at = question.find(segment) + end
                if not question.startswith(("了", "着", "过"), at):  # a verb, not a subject
                    best = segment[:end]
                break
    return best if len(best) >= 2 else None


def with_pronoun(question: str, subject: str) -> str | None:
    """``question`` with ``subject`` (and a "the" before it) replaced by a pronoun: it/its,
    they/their for a plural, 它 in Chinese. None if the subject is not in the question."""
    if _CJK.search(subject):
        return question.replace(subject, "它", 1) if subject in question else None
    plural = subject.lower().endswith("s") and not subject.lower().endswith(("ss", "us", "is"))
    pattern = re.compile(rf"\b(\w+\s+)?(?:the\s+)?{re.escape(subject)}(['’]s\b)?", re.I)

    def pronoun(match: re.Match[str]) -> str:
        before = match.group(1) or ""
        if match.group(2):
            word = "their" if plural else "its"
        elif before.strip().lower() in _PREPOSITIONS:
            word = "them" if plural else "it"
        else:
            word = "they" if plural else "it"
        return before + word if before or match.start() else word.capitalize()

    asked, count = pattern.subn(pronoun, question, count=1)
    return asked if count else None


def build_cases(questions: Sequence[EvalQuestion], n: int | None, seed: int = 0) -> list[ChatCase]:
    """Up to ``n`` conversations of each kind (all that can be made when None), seeded."""
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
        return ChatCase(kind, rng.choice(others), second, second.question) if others else None
    best: tuple[str, EvalQuestion] | None = None
    title = Path(second.document).stem.replace("_", " ") if second.document else None
    for first in pool:
        if first is second or not _same_document(first, second):
            continue
        subject = shared_subject(second.question, first.question, title)
        if subject and (best is None or len(subject) > len(best[0])):
            best = (subject, first)
    if best is None:
        return None
    asked = with_pronoun(second.question, best[0])
    if asked is None or asked == second.question:
        return None
    return ChatCase(kind, best[1], second, asked)


def _same_document(a: EvalQuestion, b: EvalQuestion) -> bool:
    return a.document is None or b.document is None or a.document == b.document


def _apart(a: EvalQuestion, b: EvalQuestion) -> bool:
    """Unrelated: other documents, or (documents unknown) no subject in common."""
    if a.document is not None and b.document is not None:
        return a.document != b.document
    return a is not b and shared_subject(b.question, a.question) is None


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
    first: str
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
        alone = {q for c in cases for q in (c.first.question, c.second.question)}
        return len(alone) + len(cases)

    def run(
        self, cases: Sequence[ChatCase], dataset: str, advance: Callable[[], None] = lambda: None
    ) -> ChatReport:
        results, timings = [], []
        for case in cases:
            alone = self._ask_alone(case.second.question, advance)
            first = self._ask_alone(case.first.question, advance)
            history = [
                Turn(role="user", content=case.first.question),
                Turn(role="assistant", content=first.answer.answer),
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
        first=case.first.question,
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
