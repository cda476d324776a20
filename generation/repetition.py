"""Degenerate repetition in generated text, caught while it streams.

A small model sometimes falls into a loop: one sentence again and again, or citations counted
up ("[1] [2] [3] ...") until ``max_tokens`` runs out. The measure is seq-rep-4 (Welleck et al.,
2019, "Neural text generation with unlikelihood training"): the share of the 4-grams in a
window of recent tokens that already occurred in that window. Natural text scores low
(measured on the SQuAD and CMRC passages in benchmarks/data: at most 0.14 over any 96-token
window of English; 0.48 of Chinese, in a results table that repeats its row labels); a loop
of period p tokens scores 1 - p/93 once it fills the window.

Tokens are words, numbers, CJK characters and runs of punctuation, lower-cased; every citation
marker is the same three tokens ("[", "n", "]"), so counting citations up is a loop too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.text import CITATION_RE, CJK_LETTERS, SENTENCE_END

N = 4
_TOKEN = re.compile(rf"{CITATION_RE.pattern}|[{CJK_LETTERS}]|[^\W{CJK_LETTERS}]+|[^\w\s]+")
# A sentence ends at . ! ? before white space (not the dot of "3.5" or "app.py"), at 。！？,
# or at a line break; one still being written has no end yet.
_PUNCTUATION = re.compile(r"[^\w\s]+")
_CHARS_PER_TOKEN = 24  # generous: the tail of text tokenized to fill a window


@dataclass(frozen=True)
class Loop:
    """A repetition found in a text."""

    seq_rep_4: float  # of the recent window when it was found
    start: int  # character offset where the repetition begins: text[:start] keeps one copy


def tokens(text: str) -> list[tuple[str, int]]:
    """The guard's tokens of ``text``, each with the offset where it starts."""
    found: list[tuple[str, int]] = []
    for match in _TOKEN.finditer(text):
        if CITATION_RE.fullmatch(match.group()):
            # About what a citation costs in model tokens, so a run of them fills the window
            # as fast as the model writes it.
            found += [(part, match.start()) for part in ("[", "n", "]")]
        else:
            found.append((match.group().lower(), match.start()))
    return found


def seq_rep(keys: Sequence[str], n: int = N) -> float:
    """Share of the n-grams of ``keys`` that repeat an earlier one: 1 - unique / total."""
    grams = [tuple(keys[i : i + n]) for i in range(len(keys) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


class RepetitionDetector:
    """Says whether a growing text has started to loop; one detector per generated text.

    Args:
        threshold: seq-rep-4 of the last ``window`` tokens at or above which the text loops.
        window: tokens looked at; loops of up to about ``window * (1 - threshold)`` tokens
            are caught by seq-rep-4, longer ones by ``sentence_repeats``.
        min_tokens: tokens generated before seq-rep-4 is judged at all.
        sentence_repeats: the same sentence (4 tokens or more) this many times is a loop.
    """

    def __init__(
        self,
        threshold: float = 0.6,
        window: int = 96,
        min_tokens: int = 48,
        sentence_repeats: int = 3,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if window <= N or min_tokens > window:
            raise ValueError(
                f"need {N} < window and min_tokens <= window, got {window} and {min_tokens}"
            )
        self.threshold = threshold
        self.window = window
        self.min_tokens = min_tokens
        self.sentence_repeats = sentence_repeats
        self._scanned = 0  # sentences before this offset are counted
        self._sentences: dict[tuple[str, ...], list[int]] = {}

    def check(self, text: str) -> Loop | None:
        """The loop in ``text``, or None while it reads as normal text.

        Call it with the same text as it grows: sentences are counted once, as they end.
        """
        tail = [key for key, _ in tokens(text[-self.window * _CHARS_PER_TOKEN :])]
        rate = seq_rep(tail[-self.window :])
        looping = len(tail) >= self.min_tokens and rate >= self.threshold
        sentence = None if looping else self._repeated_sentence(text)
        if not looping and sentence is None:
            return None
        # Either way, the trailing run of repeated 4-grams starts at the loop's second copy,
        # also when the copies differ in their first tokens ("[1] The ..." after "The ...").
        found = tokens(text)
        start = found[_repeat_run_start([key for key, _ in found])][1]
        return Loop(rate, min(start, sentence) if sentence is not None else start)

    def _repeated_sentence(self, text: str) -> int | None:
        """Where the second copy of a sentence said ``sentence_repeats`` times begins."""
        for end in SENTENCE_END.finditer(text, self._scanned):  # the sentences ended so far
            sentence = text[self._scanned : end.start()]
            start = self._scanned + len(sentence) - len(sentence.lstrip())
            self._scanned = end.end()
            key = tuple(key for key, _ in tokens(sentence))
            if len(key) < N:
                continue
            starts = self._sentences.setdefault(key, [])
            starts.append(start)
            if len(starts) >= self.sentence_repeats:
                return starts[1]
        return None


def _repeat_run_start(keys: Sequence[str]) -> int:
    """Index of the first token of the trailing run of n-grams that each repeat an earlier one.

    A few n-grams at the very end may be new only because the last token is still being
    written, so they are skipped first. Cutting there keeps one copy of the loop and never
    cuts into text before the run, which makes the cut conservative.
    """
    first_seen: dict[tuple[str, ...], int] = {}
    repeated = []
    for i in range(len(keys) - N + 1):
        gram = tuple(keys[i : i + N])
        repeated.append(gram in first_seen)
        first_seen.setdefault(gram, i)
    i = len(repeated)
    while i > 0 and not repeated[i - 1] and len(repeated) - i < N:
        i -= 1
    while i > 0 and repeated[i - 1]:
        i -= 1
    while i < len(keys) - 1 and _PUNCTUATION.fullmatch(keys[i]):
        i += 1  # the punctuation that closes the first copy stays with it
    return min(i, max(len(keys) - 1, 0))
