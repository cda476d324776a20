"""Read back what is printed under boxes, through pypdfium2: what a highlight would cover."""

from __future__ import annotations

from collections.abc import Sequence

import pypdfium2

from core.types import Box
from ingest.boxes import keys

# Each box is read a little inside its edges: pdfium takes a character that a rectangle only
# touches, and the neighbours of a line's first and last letter touch its box.
INSET_PT = 0.3


def text_under(pdf: bytes, boxes: Sequence[Box]) -> str:
    """The text pdfium finds under ``boxes``, in their order."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        parts = []
        for box in boxes:
            page = document[box.page - 1]
            width, height = page.get_size()
            textpage = page.get_textpage()
            parts.append(
                textpage.get_text_bounded(
                    left=box.x0 * width + INSET_PT,
                    bottom=(1 - box.y1) * height + INSET_PT,
                    right=box.x1 * width - INSET_PT,
                    top=(1 - box.y0) * height - INSET_PT,
                )
            )
        return " ".join(parts)
    finally:
        document.close()


def letters(text: str) -> str:
    """A text's letters and digits, lower-cased: how boxes are matched to text."""
    return "".join(key for _, key in keys(text))
