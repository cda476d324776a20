"""The text rules every stage shares, each defined once: which characters are CJK, what a
citation marker looks like, which words carry no content.

The character classes are the inside of a ``[...]`` (compose them: ``f"[{HAN}]"``).
"""

from __future__ import annotations

import re
import unicodedata

from bm25s.stopwords import STOPWORDS_EN_PLUS

# Han ideographs: CJK Extension A, the Unified block, the Compatibility block. Scored one
# character at a time (answer metrics, the guard's support check).
HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# The letters of CJK text, words written without spaces between them: kana, Han, hangul.
CJK_LETTERS = rf"\u3040-\u30ff{HAN}\uac00-\ud7af"
# Everything of CJK text, its punctuation too: radicals, CJK symbols and punctuation,
# bopomofo and kana extensions, the CJK / full-width forms. Used where text is measured and
# split (line joining, chunk sizes, BM25 tokens).
CJK_CLASS = rf"\u2e80-\u2fff\u3000-\u303f{CJK_LETTERS}\u3100-\u31ff\ufe30-\ufe4f\uff00-\uffef"
CJK_RE = re.compile(f"[{CJK_CLASS}]")
HAN_RE = re.compile(f"[{HAN}]")

# A citation marker in an answer: [1], [2, 3], [2，3] (a full-width comma from CJK answers).
# Group 1 holds the numbers.
CITATION_RE = re.compile(r"\[(\d+(?:\s*[,，]\s*\d+)*)\]")

# English words that carry no content: NLTK's list as bm25s ships it, with the modal verbs and
# the few others it lacks. (BM25 keeps its own, shorter list: bm25s's Lucene one, which the
# index's tokens were built with; see index/lexical.py.)
STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | {
    "also", "could", "may", "might", "must", "shall", "us", "whose", "would", "yes",
}  # fmt: skip

# Numbers written as words, as their digits: an answer "5" is supported by a source that says
# "five" (and the other way round). Up to twenty, and the tens, as sources spell them out.
_NUMBERS = (  # noqa: SIM905 - a list of words reads better as one
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_TENS = "thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905
NUMBER_WORDS = {word: str(n) for n, word in enumerate(_NUMBERS)} | {
    word: str(10 * n) for n, word in enumerate(_TENS, start=3)
}


def is_cjk(char: str) -> bool:
    return bool(char) and CJK_RE.match(char) is not None


def weighted_length(text: str) -> int:
    """Length with CJK characters counted twice: one is about as wide as two Latin ones, and
    carries about as much (a whole token in the embedder)."""
    return len(text) + len(CJK_RE.findall(text))


def cjk_ratio(text: str) -> float:
    """Share of non-space characters that are CJK."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(1 for c in chars if is_cjk(c)) / len(chars)


# Pronouns that point back at something named before (generation/referents.py reads them in
# questions, retrieval/excerpts.py in a passage's sentences): it/its/they/he/his/she/her/this...;
# 它/他/她(们), 其 (not in 其他, 尤其 ...).
PRONOUNS_EN = (
    r"\b(?:it|its|itself|they|them|their|theirs|themselves|he|him|his|himself|she|her|hers|"
    r"herself|this|these|those)\b"
)
PRONOUNS_ZH = r"(?<![其吉])[它他她]们?|(?<![尤极与])其(?![他它实次余])"
PRONOUN = re.compile(f"(?i:{PRONOUNS_EN})|{PRONOUNS_ZH}")
# The one sentence splitter. A sentence ends at . ! ? followed by white space, at a CJK full
# stop, exclamation or question mark, or at a line break (lists, headings). The excerpts, the
# repetition guard (as the answer streams) and the fake chat model all split by it.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")


# Chinese: runs of characters between question words, particles, punctuation and the words
# that join a name to what is said of it; a run's first two to eight characters are the
# candidates (the documents choose among 印度, 印度野驴, 印度野驴最高 ...). The dot inside a
# transliterated name (比尔·兰比尔, 维珍尼亚·阿普伽) is part of it; anywhere else it parts.
NAME_DOTS = "·・•‧･"
NAME_DOT_RE = re.compile(f"[{NAME_DOTS}]")
ZH_BOUNDARY = re.compile(
    r"什么时候|为什么|哪里|哪儿|怎么|怎样|如何|何时|是谁|谁|吗|呢|的"
    rf"|了|是|被|和|与|及|或|这|那|该|此|其|它|他|她|(?<!\w)[{NAME_DOTS}]|[{NAME_DOTS}](?!\w)"
    rf"|[^\w{NAME_DOTS}]|_|(\d+|多少|几|什么|哪些|哪个|哪一)"
)
# Question words that count or ask what kind: what follows one is asked for, not named.
COUNTING = frozenset({"多少", "几", "什么", "哪些", "哪个", "哪一"})


def asked_content(question: str) -> str:
    """What a question asks, without question words and particles (and a follow-up's
    reference): the terms a passage must hold to bear a reading out (CJK bigrams of
    "它主治哪些问题" would count 哪些 and 它主, which any passage or none holds). English keeps
    its words: BM25's stopwords drop "what" and "it"."""
    if not HAN_RE.search(question):
        return question
    return " ".join(run for run in ZH_BOUNDARY.split(question) if run and run not in COUNTING)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, without the blanks between them."""
    spans, start = [], 0
    for gap in SENTENCE_END.finditer(text):
        if text[start : gap.start()].strip():
            spans.append((start, gap.start()))
        start = gap.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return [_strip(text, s, e) for s, e in spans]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    return start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())


def fold_accents(text: str) -> str:
    """``text`` without its accents and with compatibility forms made plain ("Temüjin" ->
    "Temujin", "ﬁ" -> "fi"): what a person types for what OCR or a document spells."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))
