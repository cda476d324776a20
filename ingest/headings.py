"""Headings in a PDF's pages: the lines printed larger than its body text.

A passage deep in a section rarely names what the section is about: "It lives on muddy sand
floors" is about the fish that the heading names. PDFs carry no structure to say so, but their
headings are set in a larger type, and each page's lines (:attr:`Page.lines`) carry their type
size (pdfium) or their height (OCR). A short line whose size is :data:`SCALE` times the
document's body text's or more is a heading; where it is in the page's text is found by its
characters. The chunker starts a chunk at each heading and gives every chunk the heading above
it, which search reads with the chunk's text (:attr:`core.types.Chunk.indexed_text`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from core.types import Page, TextLine

SCALE = 1.2  # a heading's line height over the body's, at least
MAX_CHARS = 120  # longer than this, a large line is a pull quote or a banner, not a heading
MIN_BODY_LINES = 5  # fewer lines of body text than this: no body height to compare with
_WORD = re.compile(r"\w")
_LEADER = re.compile(r"(?:\.\s?){4}")  # a table of contents' dot leaders: "Scope . . . . 3"


def _size(line: TextLine) -> tuple[bool, float]:
    """(whether it is a type size, and not a box height; the size or the height)."""
    return (True, line.size) if line.size else (False, line.box[3] - line.box[1])


def body_sizes(pages: Sequence[Page]) -> dict[bool, float]:
    """The size of the document's body text, by :func:`_size`'s kind (type sizes of text
    pages, line heights of OCR'd ones): the median over its characters, most of which are body
    text; a kind with too few lines to tell is left out."""
    sizes: dict[bool, list[float]] = {True: [], False: []}
    lines: dict[bool, int] = {True: 0, False: 0}
    for page in pages:
        for line in page.lines:
            if _WORD.search(line.text):
                typeset, size = _size(line)
                sizes[typeset].extend([size] * len(line.text.strip()))
                lines[typeset] += 1
    return {
        kind: statistics.median(values)
        for kind, values in sizes.items()
        if lines[kind] >= MIN_BODY_LINES and statistics.median(values) > 0
    }


def _pattern(text: str) -> re.Pattern[str]:
    """Matches ``text`` in a page's text with any white space between its characters: the
    page's text comes from another text layer (pypdf), which spaces and breaks lines its way."""
    return re.compile(r"\s*".join(re.escape(c) for c in text if not c.isspace()))


def _alike(a: TextLine, b: TextLine) -> bool:
    """Whether two lines are set in one size (OCR's line heights: within a tenth)."""
    (typeset, size), (other_typeset, other) = _size(a), _size(b)
    return typeset == other_typeset and abs(size - other) <= 0.1 * max(size, other)


def _is_heading(line: TextLine, body: dict[bool, float]) -> bool:
    text = line.text.strip()
    typeset, size = _size(line)
    return (
        typeset in body
        and size >= SCALE * body[typeset]
        and len(text) <= MAX_CHARS
        and _WORD.search(text) is not None
        and _LEADER.search(text) is None
    )


def page_headings(page: Page, body: dict[bool, float]) -> list[tuple[int, str]]:
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
    body = body_sizes(pages)
    return [page_headings(page, body) for page in pages]
