"""Headings in a PDF's pages: the lines printed larger than its body text.

A passage deep in a section rarely names what the section is about: "It lives on muddy sand
floors" is about the fish that the heading names. PDFs carry no structure to say so, but their
headings are set in a larger type, and each page's lines (:attr:`Page.lines`) carry their type
size (pdfium) or, read by OCR, their box. A short line whose size is :data:`SCALE` times the
document's body text's or more is a heading; where it is in the page's text is found by its
characters.

An OCR'd line's size is the width of its characters, not its height: a line box's height
varies with the brackets, quotes and descenders in it (body lines of one Chinese scan measured
16.7 to 21.8 pixels, its headings, printed 1.45 times as large, 17.5 to 20.9), while its width
over its characters (CJK counted twice, being twice as wide) measured 1.42-1.78 times the
body's for every heading of the CMRC scans and under 1.2 for every body line. A line lower
than the body's lines is never a heading (OCR's fragments of a formula, spaced out).

The chunker starts a chunk at each heading and gives every chunk the heading above it, which
search reads with the chunk's text (:attr:`core.types.Chunk.indexed_text`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from core.text import weighted_length
from core.types import Page, TextLine

SCALE = 1.2  # a heading's size over the body's, at least
LOWEST = 0.9  # an OCR'd heading's line height over the body's, at least (boxes jitter)
MAX_CHARS = 120  # longer than this, a large line is a pull quote or a banner, not a heading
MIN_BODY_LINES = 5  # fewer lines of body text than this: no body height to compare with
_WORD = re.compile(r"\w")
_LEADER = re.compile(r"(?:\.\s?){4}")  # a table of contents' dot leaders: "Scope . . . . 3"


@dataclass(frozen=True)
class Body:
    """A document's body text, the median over its characters (most of which are body text):
    the type size of its text pages' lines, and the character width and line height of its
    OCR'd ones; None where too few lines tell."""

    size: float | None = None
    width: float | None = None
    height: float | None = None


def _size(line: TextLine) -> tuple[bool, float]:
    """(whether it is a type size; the type size, or an OCR'd line's width per character)."""
    if line.size:
        return True, line.size
    width = weighted_length("".join(line.text.split()))  # in half ems, about, in any font
    return False, (line.box[2] - line.box[0]) / max(1, width)


def body_text(pages: Sequence[Page]) -> Body:
    """The :class:`Body` of a document's pages."""
    sizes: dict[bool, list[float]] = {True: [], False: []}
    heights: list[float] = []
    lines: dict[bool, int] = {True: 0, False: 0}
    for page in pages:
        for line in page.lines:
            if _WORD.search(line.text):
                typeset, size = _size(line)
                count = len("".join(line.text.split()))
                sizes[typeset].extend([size] * count)
                if not typeset:
                    heights.extend([line.box[3] - line.box[1]] * count)
                lines[typeset] += 1

    def median(kind: bool, values: list[float]) -> float | None:
        value = statistics.median(values) if lines[kind] >= MIN_BODY_LINES else 0.0
        return value if value > 0 else None

    return Body(median(True, sizes[True]), median(False, sizes[False]), median(False, heights))


def _pattern(text: str) -> re.Pattern[str]:
    """Matches ``text`` in a page's text with any white space between its characters: the
    page's text comes from another text layer (pypdf), which spaces and breaks lines its way."""
    return re.compile(r"\s*".join(re.escape(c) for c in text if not c.isspace()))


def _alike(a: TextLine, b: TextLine) -> bool:
    """Whether two lines are set in one size (OCR's widths per character: within a tenth)."""
    (typeset, size), (other_typeset, other) = _size(a), _size(b)
    return typeset == other_typeset and abs(size - other) <= 0.1 * max(size, other)


def _is_heading(line: TextLine, body: Body) -> bool:
    text = line.text.strip()
    typeset, size = _size(line)
    if typeset:
        large = body.size is not None and size >= SCALE * body.size
    else:
        large = (
            body.width is not None
            and body.height is not None
            and size >= SCALE * body.width
            and line.box[3] - line.box[1] >= LOWEST * body.height
        )
    return (
        large
        and len(text) <= MAX_CHARS
        and _WORD.search(text) is not None
        and _LEADER.search(text) is None
    )


def page_headings(page: Page, body: Body) -> list[tuple[int, str]]:
    """``(offset in page.text, heading)`` of each heading line found on ``page``, in order;
    a heading set on two lines (the next line, in the same size) is one heading."""
    found: list[tuple[int, int, str]] = []  # start, end, text
    search_from, last = 0, None  # last: the previous line, if it was a heading
    for line in page.lines:
        if not _is_heading(line, body):
            last = None
            continue
        text = " ".join(line.text.split())
        match = _pattern(text).search(page.text, search_from)
        if match is None:  # the two text layers disagree on this line: leave it out
            last = None
            continue
        if last is not None and _alike(last, line):
            start, _, before = found[-1]
            found[-1] = (start, match.end(), f"{before} {text}"[:MAX_CHARS])
        else:
            found.append((match.start(), match.end(), text))
        search_from, last = match.end(), line
    return [(start, text) for start, _, text in found]


def document_headings(pages: Sequence[Page]) -> list[list[tuple[int, str]]]:
    """Each page's headings (:func:`page_headings`); none where the document's lines are too
    few to tell body text from headings."""
    body = body_text(pages)
    return [page_headings(page, body) for page in pages]
