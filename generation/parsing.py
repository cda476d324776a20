"""Turn a model's raw text into an answer, its reasoning, its citations and whether it refused."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import snowballstemmer

from core.i18n import Lang, language_of, messages
from core.text import CITATION_RE, HAN_RE, NUMBER_WORDS, STOPWORDS, fold_accents
from core.types import Citation, Hit
from generation.prompts import TRUNCATED, refusal

_ANSWER_MARK = re.compile(r"(?im)^\W*(?:final\s+answer|answer|答案|最终答案)\s*[:：]\s*")
_REASONING_MARK = re.compile(r"(?im)^\W*(?:reasoning|推理|思考)\s*[:：]\s*")
_REFUSALS = re.compile(
    r"do(?:es)? not contain the answer|not (?:mentioned|found|stated) in the (?:sources|documents)"
    r"|(?:sources|documents) do(?:es)? not (?:say|mention|contain)|no information (?:about|on)"
    r"|文档中没有|没有提到|无法回答|未提及",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)
# Words that say nothing about the sources: function words, and the words of the prompt itself.
_CONTENTLESS = STOPWORDS | {"according", "answer", "document", "documents", "source", "sources"}
# Below this share of its new words found in the sources, an answer is taken as invented.
MIN_SUPPORT = 0.5


@dataclass(frozen=True)
class ParsedAnswer:
    answer: str
    reasoning: str | None
    grounded: bool
    cited: list[int]  # 1-based source numbers, in order of first mention
    inferred: bool  # True when the model cited nothing and the sources were matched instead
    support: float = 1.0  # share of the answer's new words found in the sources
    unsupported: str | None = None  # the model's answer, when it was replaced by the refusal


def content_units(text: str) -> set[str]:
    """Words that carry content (CJK: single characters), lower-cased, without citations;
    English words by their Snowball stem ("economists" and "economist" are one unit), without
    accents ("Temüjin" is "temujin") and numbers written as words by their digits ("five" is
    "5")."""
    text = CITATION_RE.sub(" ", text.lower())
    words = [
        NUMBER_WORDS.get(w, w)
        for w in _WORD.findall(fold_accents(HAN_RE.sub(" ", text)))
        if w not in _CONTENTLESS
    ]
    stemmer = snowballstemmer.stemmer("english")  # one per call: a stemmer keeps state
    units = set(stemmer.stemWords(words))
    return units | set(HAN_RE.findall(text))


def support(answer: str, question: str, sources: Sequence[str]) -> float:
    """Share of the words an answer adds to the question that the sources contain.

    Extractive, grounded answers score near 1; an answer from the model's own memory
    ("Canberra", when no source names it) scores near 0.
    """
    new = content_units(answer) - content_units(question)
    if not new:
        return 1.0
    known = content_units(" ".join(sources))
    return sum(unit in known or _misread(unit, known) for unit in new) / len(new)


_MISREAD_MIN = 6  # letters of a word that may differ from the sources' by one


def _misread(unit: str, known: set[str]) -> bool:
    """Whether the sources hold ``unit`` with one letter changed, added or dropped: a long word
    as OCR read it ("Temiujin" for "Temüjin"). Short words must match: "Kent" is not "Kant"."""
    if len(unit) < _MISREAD_MIN or not unit.isalpha():
        return False
    return any(abs(len(k) - len(unit)) <= 1 and _one_edit(unit, k) for k in known)


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by at most one substitution, insertion or deletion."""
    if len(a) > len(b):
        a, b = b, a
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


# Answers that add no word to a yes-or-no question and still answer it.
_YES_NO = frozenset({"yes", "no", "是", "否", "不是", "对", "不对", "是的", "不"})


def echoes(answer: str, question: str) -> bool:
    """Whether ``answer`` only says the question again, adding no word of content: "The
    Mongol army besieged the city." to "Which city did the Mongol army besiege?". A refusal,
    and a bare yes or no, are no echo."""
    plain = CITATION_RE.sub(" ", answer).strip(".。!！ \n").lower()
    if not plain or plain in _YES_NO or is_refusal(answer):
        return False
    return not content_units(answer) - content_units(question)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Split chain-of-thought output at its last 'Answer:' line into (answer, reasoning)."""
    marks = list(_ANSWER_MARK.finditer(text))
    if not marks:
        return text.strip(), None
    last = marks[-1]
    reasoning = _REASONING_MARK.sub("", text[: last.start()]).strip()
    return text[last.end() :].strip(), reasoning or None


def cited_numbers(answer: str, n_sources: int) -> list[int]:
    seen: list[int] = []
    for group in CITATION_RE.findall(answer):
        for number in re.split(r"[,，]", group):
            n = int(number)
            if 1 <= n <= n_sources and n not in seen:
                seen.append(n)
    return seen


def is_refusal(answer: str) -> bool:
    said = answer.strip().rstrip(".。")
    return bool(_REFUSALS.search(answer)) or any(
        said == sentence.rstrip(".。") for sentence in messages("refusal")
    )


def best_supporting_source(answer: str, hits: Sequence[Hit]) -> int | None:
    """The 1-based source that most supports an uncited answer: it holds the answer verbatim,
    or shares the most of its words (characters, for CJK)."""
    plain = CITATION_RE.sub("", answer).strip().strip(".。").lower()
    if not plain or not hits:
        return None
    squashed = "".join(plain.split())
    for n, hit in enumerate(hits, start=1):
        if squashed in "".join(hit.chunk.text.lower().split()):
            return n
    words = set(_WORD.findall(plain)) | {c for c in plain if ord(c) > 0x2E80}
    overlaps = [
        len(words & (set(_WORD.findall(h.chunk.text.lower())) | set(h.chunk.text))) for h in hits
    ]
    best = max(range(len(hits)), key=lambda i: overlaps[i])
    return best + 1 if overlaps[best] else None


def recite(answer: str, n: int) -> str:
    """``answer`` citing source ``n`` alone, in place of the citations it had."""
    plain = " ".join(CITATION_RE.sub(" ", answer).split())
    end = len(plain.rstrip(".。"))
    return f"{plain[:end].rstrip()} [{n}]{plain[end:]}"


def parse_answer(
    raw: str,
    hits: Sequence[Hit],
    chain_of_thought: bool,
    question: str = "",
    lang: Lang | None = None,
) -> ParsedAnswer:
    """The model's ``raw`` text as an answer. A refusal, whatever words the model refused in,
    and an answer withheld as unsupported, are the refusal in ``lang`` (the question's
    language unless given)."""
    answer, reasoning = split_reasoning(raw) if chain_of_thought else (raw.strip(), None)
    refused = refusal(lang or language_of(question))
    if is_refusal(answer) or not answer:
        return ParsedAnswer(refused, reasoning, grounded=False, cited=[], inferred=False)
    if not CITATION_RE.sub("", answer).strip(" \t\n.,;:。，"):
        # Only source numbers ("[1]."), as small models write at times: there is no answer to
        # show, and citing it would pass a source off as one.
        return ParsedAnswer(
            refused, reasoning, grounded=False, cited=[], inferred=False, unsupported=answer
        )
    # What the model read: each passage under its heading, which may name what it answers.
    share = support(answer, question, [h.chunk.indexed_text for h in hits])
    if share < MIN_SUPPORT:
        return ParsedAnswer(
            refused,
            reasoning,
            grounded=False,
            cited=[],
            inferred=False,
            support=share,
            unsupported=answer,
        )
    cited = cited_numbers(answer, len(hits))
    read = [hits[n - 1].chunk.indexed_text for n in cited]
    if cited and support(answer, question, read) >= MIN_SUPPORT:
        return ParsedAnswer(answer, reasoning, True, cited, inferred=False, support=share)
    # Uncited (a short phrase, as small models write it), or citing passages that do not hold
    # it: cite the source that does, inline as a reader expects ("1887 [1]").
    best = best_supporting_source(answer, hits)
    if best:
        answer = recite(answer, best)
    return ParsedAnswer(
        answer, reasoning, True, [best] if best else [], inferred=True, support=share
    )


# A citation marker not closed yet at the end of streamed text: "[", "[1", "[1, 2".
_OPEN_MARKER = re.compile(r"\[[\d\s,，]*$")
_MARKER_CHARS = 32  # held back at most this long: past it, it was no marker


class Renumbering:
    """Source numbers as the answer first mentions them, as in a paper: the model's [3] then
    [1] are shown as [1] then [2]; the source list follows the same numbers. A marker of no
    source ([9] of 5) is dropped.

    :meth:`feed` renumbers streamed text piece by piece (a marker split between pieces is held
    back until it closes); :meth:`text` renumbers whole text. Fed the same text in the same
    order, both give the same numbers: the stream and the final answer agree.
    """

    def __init__(self, sources: int) -> None:
        self.sources = sources
        self.numbers: dict[int, int] = {}  # the model's number -> the number shown
        self._held = ""

    def number(self, n: int) -> int | None:
        """The number shown for the model's source ``n`` (the next free one, on first sight)."""
        if not 1 <= n <= self.sources:
            return None
        return self.numbers.setdefault(n, len(self.numbers) + 1)

    def text(self, text: str) -> str:
        return CITATION_RE.sub(self._marker, text)

    def feed(self, piece: str) -> str:
        """The renumbered text of ``piece`` that can be sent now."""
        text = self._held + piece
        match = _OPEN_MARKER.search(text[-_MARKER_CHARS:])
        cut = len(text) - len(match.group()) if match else len(text)
        self._held = text[cut:]
        return self.text(text[:cut])

    def flush(self) -> str:
        """What :meth:`feed` held back, at the end of the stream."""
        held, self._held = self._held, ""
        return self.text(held)

    def _marker(self, match: re.Match[str]) -> str:
        shown = [self.number(int(n)) for n in re.split(r"[,，]", match.group(1))]
        kept = list(dict.fromkeys(n for n in shown if n is not None))
        return f"[{', '.join(map(str, kept))}]" if kept else ""


def citations_for(
    cited: Sequence[int], hits: Sequence[Hit], numbering: Renumbering | None = None
) -> list[Citation]:
    """The citations of the sources ``cited`` (the model's numbers), numbered as
    ``numbering`` shows them (default: as the model did), in that order."""
    out = []
    for n in cited:
        hit = hits[n - 1]
        out.append(
            Citation(
                n=(numbering.number(n) or n) if numbering else n,
                document_id=hit.chunk.document_id,
                collection=hit.collection,
                filename=hit.filename,
                page=hit.chunk.page_start,
                page_end=hit.chunk.page_end,
                section=hit.chunk.section,
                heading=hit.chunk.heading,
                boxes=hit.chunk.boxes,
                text=hit.chunk.text,
                score=hit.score,
                truncated=hit.chunk.text.endswith(TRUNCATED),
            )
        )
    return sorted(out, key=lambda c: c.n)
