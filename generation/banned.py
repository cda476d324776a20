"""Words an answer must never contain: found in the text as it streams, whatever the server.

The servers' own means (vLLM's ``bad_words``, a ``logit_bias`` on llama.cpp) stop the usual
spellings of a word at the token level, but a model can still spell it with other tokens
("Qu" + "ill"), and a word made of digits or single letters cannot be banned token by token
without banning those letters everywhere. So the text itself is checked too, before it is
sent on: the generator holds back the last few characters, which might be the start of a
banned word, until the next ones show they are not.

A banned word matches whole (not inside a longer word) and in any case; a word with CJK
characters matches anywhere, since CJK text has no spaces between words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.text import CJK_LETTERS

_CJK = re.compile(f"[{CJK_LETTERS}]")
_HOLD_SLACK = 8  # extra characters held back, for white space inside a banned phrase


def spellings(word: str) -> list[str]:
    """The word as given, lower-case, capitalised and upper-case, each once."""
    word = word.strip()
    return list(dict.fromkeys([word, word.lower(), word[:1].upper() + word[1:], word.upper()]))


def _pattern(word: str) -> str:
    body = r"\s+".join(re.escape(part) for part in word.split())
    if not _CJK.search(word):
        if re.match(r"\w", word):
            body = r"(?<!\w)" + body
        if re.search(r"\w$", word):
            body += r"(?!\w)"
    return f"({body})"


class BannedWords:
    """A matcher for the banned words of one request."""

    def __init__(self, words: Sequence[str] = ()) -> None:
        self.words = list(dict.fromkeys(w.strip() for w in words if w.strip()))
        self._regex = (
            re.compile("|".join(map(_pattern, self.words)), re.IGNORECASE) if self.words else None
        )
        self._hold = max(map(len, self.words), default=0) + _HOLD_SLACK if self.words else 0
        # A word that ends in a letter or digit is only whole once the next character shows.
        self._open_ended = [bool(re.search(r"\w$", w)) and not _CJK.search(w) for w in self.words]

    def __bool__(self) -> bool:
        return bool(self.words)

    def find(self, text: str, final: bool = True) -> str | None:
        """The first banned word in ``text``, as it was banned; None when there is none.

        Args:
            text: the text so far.
            final: False while more text may follow: a word at the very end is then not yet
                a match, since the next character may make it part of a longer word
                ("Quill" -> "Quills").
        """
        if self._regex is None:
            return None
        for match in self._regex.finditer(text):
            index = (match.lastindex or 1) - 1
            if final or match.end() < len(text) or not self._open_ended[index]:
                return self.words[index]
        return None

    def safe_end(self, text: str) -> int:
        """How much of ``text`` may be sent on: none of it can be part of a banned word."""
        return max(0, len(text) - self._hold)
