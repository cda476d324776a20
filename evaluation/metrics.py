"""Answer and retrieval scores: SQuAD exact match and token F1, ROUGE-L, answer containment.

Text is split the way the SQuAD v1.1 and CMRC 2018 evaluation scripts split it: lower-cased,
punctuation and the English articles dropped, English words as tokens and every CJK character a
token of its own, so that one function scores English and Chinese answers alike.

ROUGE-L is written here rather than taken from ``rouge-score``: that package has had no release
since 2022 and its tokenizer drops every non-ASCII character, which scores any Chinese answer 0.
"""

from __future__ import annotations

import difflib
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

from core.text import CITATION_RE, HAN

_TOKEN = re.compile(rf"[{HAN}]|[^\s{HAN}]+")
_ARTICLES = frozenset({"a", "an", "the"})
_CITATION = re.compile(rf"\s*{CITATION_RE.pattern}")


def _is_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def tokens(text: str) -> list[str]:
    """Normalised tokens: lower case, no punctuation, no articles; CJK one character each."""
    text = "".join(" " if _is_punctuation(c) else c for c in text.lower())
    return [t for t in _TOKEN.findall(text) if t not in _ARTICLES]


def strip_citations(answer: str) -> str:
    """The answer without its ``[1]``-style source markers."""
    return _CITATION.sub("", answer).strip()


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    predicted = tokens(prediction)
    return float(any(predicted == tokens(g) for g in golds))


def _f1(predicted: list[str], gold: list[str]) -> float:
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """The best token F1 of the prediction against any gold answer (SQuAD's definition)."""
    predicted = tokens(prediction)
    return max((_f1(predicted, tokens(g)) for g in golds), default=0.0)


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, in O(len(a) * len(b)) time, O(len(b)) space."""
    row = [0] * (len(b) + 1)
    for x in a:
        previous_diagonal = 0
        for j, y in enumerate(b, start=1):
            previous_diagonal, row[j] = (
                row[j],
                previous_diagonal + 1 if x == y else max(row[j], row[j - 1]),
            )
    return row[-1]


def rouge_l(prediction: str, golds: Sequence[str]) -> float:
    """The best ROUGE-L F-measure (beta = 1) of the prediction against any gold answer."""
    predicted = tokens(prediction)
    best = 0.0
    for gold in golds:
        reference = tokens(gold)
        common = _lcs(predicted, reference)
        if common:
            precision, recall = common / len(predicted), common / len(reference)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def squash(text: str) -> str:
    """Lower case without whitespace: a PDF breaks lines anywhere, and CJK has no spaces."""
    return "".join(text.lower().split())


def holds_answer(text: str, golds: Sequence[str]) -> bool:
    """Whether a passage contains a gold answer, ignoring case and whitespace."""
    passage = squash(text)
    return any(squash(g) in passage for g in golds if g.strip())


def holds_answer_as_read(text: str, golds: Sequence[str], least: float = 0.9) -> bool:
    """Whether a passage holds a gold answer as OCR would read it: ``least`` of the answer's
    characters (case and white space aside) found in order, within a stretch of the passage
    not much longer than the answer. A scan's passage that holds "易颌输入法" for "易颉输入法"
    is the passage the question needs, though :func:`holds_answer` says it is not; a short
    answer must still match whole (4 of 5 characters fall short of 0.9)."""
    passage = squash(text)
    for gold in (squash(g) for g in golds if g.strip()):
        if gold in passage:
            return True
        width = int(len(gold) / least)
        for start in range(max(1, len(passage) - len(gold) + 1)):
            window = passage[start : start + width]
            blocks = difflib.SequenceMatcher(None, gold, window, autojunk=False)
            if sum(b.size for b in blocks.get_matching_blocks()) >= least * len(gold):
                return True
    return False


def answer_rank(
    ranked: Sequence[tuple[str, str]],
    golds: Sequence[str],
    document: str | None,
    depth: int,
    budget: int | None = None,
    holds: Callable[[str, Sequence[str]], bool] = holds_answer,
) -> int | None:
    """1-based rank of the first ``(filename, text)`` (of ``document``, when known) holding a
    gold answer by ``holds``, looking ``depth`` deep and, with a ``budget``, only at the first
    ``budget`` characters of ranked text, so that bigger chunks cannot buy recall."""
    used = 0
    for rank, (filename, text) in enumerate(ranked[:depth], start=1):
        visible = text
        if budget is not None:
            if used >= budget:
                return None
            visible = text[: budget - used]
            used += len(text)
        if (document is None or filename == document) and holds(visible, golds):
            return rank
    return None


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first answer-holding chunk ranks ``k`` or better."""
    return sum(r is not None and r <= k for r in ranks) / max(len(ranks), 1)


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    """Mean of 1 / rank of the first answer-holding chunk (0 where none was found)."""
    return sum(1 / r for r in ranks if r) / max(len(ranks), 1)
