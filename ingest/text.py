"""Text clean-up that knows CJK: in CJK text a line break is not a space."""

from __future__ import annotations

import re
import unicodedata

import regex

from core.text import is_cjk

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
        "\u00ad": "",
    }
)
_HYPHENATED = re.compile(r"(?<=[^\W\d_])-$")
# Unicode category C (control, format, private use, surrogate, unassigned) but tab and newline.
# regex, not a loop over characters: a page is thousands of them, and pages are many.
_INVISIBLE = regex.compile(r"[^\P{C}\n\t]+")
_UNUSABLE = regex.compile(r"[\ufffd\p{Co}\p{Cs}\p{Cn}\p{Cc}]")
_CID = re.compile(r"\(cid:\d+\)")


def _join_lines(lines: list[str]) -> str:
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if not out:
            out = line
        elif _HYPHENATED.search(out[-2:]) and line[0].islower():  # the end only: not O(n^2)
            out = out[:-1] + line  # "exam-\nple" was one word
        elif is_cjk(out[-1]) or is_cjk(line[0]):
            out += line
        else:
            out += " " + line
    return out


def clean_text(text: str) -> str:
    """Normalise a page's text and join the lines a PDF broke inside sentences.

    Paragraphs (blank-line separated) stay apart; lines inside one are joined with a space,
    or with nothing when either side is CJK; a word hyphenated at a line end is rejoined.
    """
    # NFC, not NFKC: NFKC would turn CJK full-width punctuation (，？！) into ASCII.
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.translate(_LIGATURES)
    text = _INVISIBLE.sub("", text)
    paragraphs = (_join_lines(p.split("\n")) for p in _PARAGRAPH_BREAK.split(text))
    return "\n\n".join(_SPACES.sub(" ", p) for p in paragraphs if p)


def looks_garbled(text: str) -> bool:
    """True when extracted text is mostly unusable (CID codes, replacement or private-use chars)."""
    stripped = "".join(text.split())
    if not stripped:
        return True
    bad = len(_UNUSABLE.findall(stripped)) + 5 * len(_CID.findall(text))
    return bad / len(stripped) > 0.05
