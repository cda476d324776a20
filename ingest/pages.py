"""A PDF page as a picture, for people to see where a passage is printed."""

from __future__ import annotations

import io

import pypdfium2

from core.errors import IngestError, NotFoundError
from ingest.ocr import MAX_PIXELS


def render_png(data: bytes, number: int, width: int, password: str | None = None) -> bytes:
    """Page ``number`` (1-based) of a PDF as a PNG ``width`` pixels wide (less for a page so
    large that it would pass :data:`ingest.ocr.MAX_PIXELS`); scanned pages too."""
    try:
        pdf = pypdfium2.PdfDocument(data, password=password)
    except pypdfium2.PdfiumError as exc:
        raise IngestError("the original", "corrupt", f"cannot be opened: {exc}") from exc
    try:
        if not 1 <= number <= len(pdf):
            raise NotFoundError(f"page {number} of a document of {len(pdf)} pages")
        page = pdf[number - 1]
        points_wide, points_high = page.get_size()
        scale = min(width / points_wide, (MAX_PIXELS / (points_wide * points_high)) ** 0.5)
        image = page.render(scale=scale).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    finally:
        pdf.close()
