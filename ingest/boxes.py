"""Where each chunk is printed: the boxes of the lines (or parts of lines) its text covers.

A PDF page's lines come from pdfium's text page, each character with its box (:func:`pdf_lines`);
a scanned page's from the OCR engine's line boxes. A chunk's text (from pypdf, cleaned) is found
in its page's lines by its letters and digits alone, lower-cased, so that spacing, hyphenation
and ligatures, which the two text layers treat differently, do not matter (:func:`chunk_boxes`).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import cast

import numpy as np
import pypdfium2

from core.types import Box, Chunk, Page, PageTurn, TextLine

_SCALE = 65535  # a character edge as a uint16 fraction of the page width
# Characters matched at each end of a chunk that is not found whole on its page (a text
# layer that reads one word differently): its start and its end, each found on its own.
_ANCHOR = 24
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def pdf_lines(page: pypdfium2.PdfPage) -> list[TextLine]:
    """The printed lines of a PDF page, each with its box and its characters' edges, as
    fractions of the page upright (pdfium places characters in the page's own space, before
    its ``/Rotate``: the lines' ``turn``)."""
    frame = _Frame(page)
    # pdfium orders a turned page's lines as they are shown (on a page turned 90 degrees, its
    # last line first), and the text a chunk is found by runs upright: read them upright.
    if frame.turn:
        page.set_rotation(0)
    textpage = page.get_textpage()
    try:
        lines: list[TextLine] = []
        chars: list[_Char] = []
        for index in range(textpage.count_chars()):
            char = chr(pypdfium2.raw.FPDFText_GetUnicode(textpage, index))
            if char in "\r\n":
                lines.extend(_line(chars, frame))
                chars = []
                continue
            left, bottom, right, top = textpage.get_charbox(index)
            drawn = not char.isspace() and right > left and top > bottom
            size = pypdfium2.raw.FPDFText_GetFontSize(textpage, index) if drawn else 0.0
            chars.append((char, (left, bottom, right, top) if drawn else None, size))
        lines.extend(_line(chars, frame))
        return lines
    finally:
        textpage.close()
        if frame.turn:
            page.set_rotation(frame.turn)


class _Frame:
    """A PDF page's visible area (its crop box within its media box, which is what pdfium
    draws) in PDF points, and how far it is shown turned."""

    def __init__(self, page: pypdfium2.PdfPage) -> None:
        self.left, self.bottom, self.right, self.top = page.get_bbox()
        self.width, self.height = self.right - self.left, self.top - self.bottom
        self.turn = cast(PageTurn, page.get_rotation() % 360)

    def points(self, box: Box) -> tuple[float, float, float, float]:
        """A box on the page as shown -> (left, bottom, right, top) in PDF points."""
        x0, y0, x1, y1 = turned((box.x0, box.y0, box.x1, box.y1), (360 - self.turn) % 360)
        return (
            self.left + x0 * self.width,
            self.top - y1 * self.height,
            self.left + x1 * self.width,
            self.top - y0 * self.height,
        )


def turned(box: Rect, turn: int) -> Rect:
    """A box (x0, y0, x1, y1 as fractions, origin top-left) on a page turned ``turn``
    degrees clockwise: where it is on the page as shown."""
    x0, y0, x1, y1 = box
    if turn == 90:
        return 1 - y1, x0, 1 - y0, x1
    if turn == 180:
        return 1 - x1, 1 - y1, 1 - x0, 1 - y0
    if turn == 270:
        return y0, 1 - x1, y1, 1 - x0
    return box


# A character: itself, its box (PDF points, origin bottom-left; None: not drawn), its type size.
_Char = tuple[str, tuple[float, float, float, float] | None, float]


def _line(chars: list[_Char], frame: _Frame) -> Iterator[TextLine]:
    """One line of characters as a TextLine, if any is drawn."""
    boxes = [box for _, box, _ in chars if box is not None]
    if not boxes or frame.width <= 0 or frame.height <= 0:
        return
    edges: list[tuple[float, float]] = []
    edge = boxes[0][0]  # a space's edges: where the glyph before it ends
    for _, box, _ in chars:
        if box is not None:
            edge = box[2]
        edges.append((box[0], box[2]) if box is not None else (edge, edge))
    # many characters a page: numpy, not a loop of round()
    x = (np.asarray(edges).T - frame.left) / frame.width
    lefts, rights = np.rint(np.clip(x, 0, 1) * _SCALE).astype(np.uint16)
    bounds = np.asarray(boxes)
    yield TextLine(
        text="".join(char for char, _, _ in chars),
        box=(
            _clip((bounds[:, 0].min() - frame.left) / frame.width),
            _clip((frame.top - bounds[:, 3].max()) / frame.height),
            _clip((bounds[:, 2].max() - frame.left) / frame.width),
            _clip((frame.top - bounds[:, 1].min()) / frame.height),
        ),
        lefts=lefts.tobytes(),
        rights=rights.tobytes(),
        turn=frame.turn,
        size=Counter(round(size, 1) for _, box, size in chars if box is not None).most_common(1)[0][
            0
        ],
    )


def _clip(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 5)


# A box is read back a little inside its edges: pdfium takes a character that a rectangle only
# touches, and the neighbours of a line's first and last letter touch its box.
INSET_PT = 0.3


def text_under(pdf: bytes, boxes: Sequence[Box]) -> str:
    """The text pdfium finds under ``boxes`` of a PDF (on its pages as shown, turned or not),
    in their order: what a highlight drawn at them covers (how tests and ``python -m
    benchmarks boxes`` check the boxes)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        parts = []
        for box in boxes:
            page = document[box.page - 1]
            left, bottom, right, top = _Frame(page).points(box)
            textpage = page.get_textpage()
            parts.append(
                textpage.get_text_bounded(
                    left=left + INSET_PT,
                    bottom=bottom + INSET_PT,
                    right=right - INSET_PT,
                    top=top - INSET_PT,
                )
            )
            textpage.close()
        return " ".join(parts)
    finally:
        document.close()


def letters(text: str) -> str:
    """A text's letters and digits, lower-cased: what boxes are matched to text by."""
    return "".join(key for _, key in keys(text))


def keys(text: str) -> Iterator[tuple[int, str]]:
    """(index in ``text``, character) of the letters and digits a text is matched by:
    NFKC (a ligature is its letters), lower-cased."""
    for index, char in enumerate(text):
        for key in unicodedata.normalize("NFKC", char).lower():
            if key.isalnum():
                yield index, key


def chunk_boxes(chunks: Sequence[Chunk], pages: Sequence[Page]) -> list[Chunk]:
    """``chunks`` with the boxes of the lines they cover, where their pages have lines."""
    by_number = {page.number: page for page in pages}
    located = {}
    for number, page in by_number.items():
        if page.lines:
            located[number] = _Located(page)
    out = []
    for chunk in chunks:
        found = located.get(chunk.page_start)
        if found is None or chunk.page_end != chunk.page_start:
            out.append(chunk)
            continue
        out.append(chunk.model_copy(update={"boxes": found.boxes(chunk.text)}))
    return out


class _Located:
    """A page's lines, searchable by the letters and digits of a passage."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.where: list[tuple[int, int]] = []  # each key's line and character
        parts: list[str] = []
        for number, line in enumerate(page.lines):
            for index, key in keys(line.text):
                self.where.append((number, index))
                parts.append(key)
        self.text = "".join(parts)
        self._from = 0  # chunks come in page order: the next is looked for from here on

    def boxes(self, text: str) -> list[Box]:
        """The boxes of ``text`` on this page, a box per line it covers; [] if not found."""
        wanted = [(index, key) for index, key in keys(text)]
        span = self._find("".join(key for _, key in wanted))
        if span is None:
            return []
        first, last = span
        self._from = first + 1
        offsets = [index for index, _ in wanted]
        # Punctuation around the first and last letter ("(1887).") is the passage's too.
        lead, trail = offsets[0], len(text.rstrip()) - offsets[-1] - 1
        return list(self._boxes(first, last, offsets, lead, trail))

    def _find(self, needle: str) -> tuple[int, int] | None:
        """The first and last key of ``needle`` here: whole, or its two ends apart."""
        if not needle:
            return None
        at = self.text.find(needle, self._from)
        if at < 0:
            at = self.text.find(needle)
        if at >= 0:
            return at, at + len(needle) - 1
        head, tail = needle[:_ANCHOR], needle[-_ANCHOR:]
        start = self.text.find(head, self._from)
        start = start if start >= 0 else self.text.find(head)
        end = self.text.find(tail, max(start, 0))
        if start < 0 or end < 0 or end + len(tail) - start > 2 * len(needle):
            return None
        return start, end + len(tail) - 1

    def _boxes(
        self, first: int, last: int, offsets: list[int], lead: int, trail: int
    ) -> Iterator[Box]:
        """A box per line from key ``first`` to key ``last``, widened by up to ``lead`` and
        ``trail`` printed characters before and after; ``offsets``: each key's index in the
        chunk's text, for the characters of the chunk each box covers."""
        runs: dict[int, list[int]] = {}
        for k in range(first, last + 1):
            runs.setdefault(self.where[k][0], []).append(k)
        for number, ks in runs.items():
            line = self.page.lines[number]
            a, b = self.where[ks[0]][1], self.where[ks[-1]][1]
            # A line the passage runs on from (or into) is its own up to its edge: "(built"
            # at a line's start is the passage's whole, though only "built" is matched.
            a = _widen(line.text, a, -1, lead if ks[0] == first else len(line.text))
            b = _widen(line.text, b, 1, trail if ks[-1] == last else len(line.text))
            x0, x1 = _edges(line, a, b)
            x0, y0, x1, y1 = (
                round(v, 5) for v in turned((x0, line.box[1], x1, line.box[3]), line.turn)
            )
            # The chunk's characters this box covers, where the chunk's keys line up with the
            # page's (they do wherever the chunk was found whole).
            start = offsets[min(ks[0] - first, len(offsets) - 1)]
            end = offsets[min(ks[-1] - first, len(offsets) - 1)] + 1
            yield Box(
                page=self.page.number,
                x0=x0,
                y0=y0,
                x1=x1,
                y1=y1,
                start=start,
                end=max(end, start),
            )


def _widen(text: str, at: int, step: int, most: int) -> int:
    """``at`` moved by ``step`` over up to ``most`` printed characters that are no letter."""
    for _ in range(most):
        nxt = at + step
        if not 0 <= nxt < len(text) or text[nxt].isspace() or text[nxt].isalnum():
            break
        at = nxt
    return at


def _edges(line: TextLine, first: int, last: int) -> tuple[float, float]:
    """The left and right edge of characters ``first``..``last`` of a line; without their
    edges (OCR), as if the characters were spread evenly over the line's width."""
    if line.lefts:
        lefts = np.frombuffer(line.lefts, dtype=np.uint16)[first : last + 1]
        rights = np.frombuffer(line.rights, dtype=np.uint16)[first : last + 1]
        return round(int(lefts.min()) / _SCALE, 5), round(int(rights.max()) / _SCALE, 5)
    x0, _, x1, _ = line.box
    step = (x1 - x0) / max(len(line.text), 1)
    return round(x0 + first * step, 5), round(x0 + (last + 1) * step, 5)
