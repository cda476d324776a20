from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import RectangleObject

from benchmarks.scans import scan_pdf
from core.settings import IngestSettings
from core.types import Box, Chunk, Page, ParsedDocument, TextLine
from ingest.boxes import chunk_boxes, turned
from ingest.chunking import Chunker
from ingest.isolation import IsolatedParser
from ingest.loaders import OcrOptions, PdfLoader
from ingest.ocr import ENGINES
from ingest.pages import render_png
from tests.utils.boxes import letters, text_under
from tests.utils.pdfs import text_pdf_bytes

LONG = " ".join(
    f"Sentence {i} tells of reservoir {i * 7} (built {1800 + i}), and of its dam."
    for i in range(50)
)


def _chunks(data: bytes, size: int = 300) -> list[Chunk]:
    pages = PdfLoader().pages(data, "r.pdf")
    parsed = ParsedDocument(id="d", filename="r.pdf", kind="pdf", size_bytes=1, pages=pages)
    return chunk_boxes(Chunker(size, size // 5).split(parsed), pages)


def test_the_text_under_each_chunks_boxes_is_the_chunks_text() -> None:
    data = text_pdf_bytes([LONG, LONG[:700]], font="core")
    chunks = _chunks(data)
    assert len(chunks) > 8
    for chunk in chunks:
        assert chunk.boxes, chunk.text
        assert {box.page for box in chunk.boxes} == {chunk.page_start}
        assert letters(text_under(data, chunk.boxes)) == letters(chunk.text)


def test_boxes_are_fractions_of_the_page_top_down_a_box_per_line() -> None:
    data = text_pdf_bytes([LONG], font="core")
    for chunk in _chunks(data):
        for box in chunk.boxes:
            assert 0 <= box.x0 < box.x1 <= 1
            assert 0 <= box.y0 < box.y1 <= 1
            assert 0 <= box.start < box.end <= len(chunk.text)
        tops = [box.y0 for box in chunk.boxes]
        assert tops == sorted(tops)  # lines in reading order, down the page
        assert len(set(tops)) == len(tops)
    first = _chunks(data)[0].boxes[0]
    assert first.y0 < 0.2  # the first line is near the top: origin top-left
    _assert_boxes_cover_the_ink(data, _chunks(data))


def _shown(
    data: bytes, turn: int = 0, crop: tuple[float, float, float, float] | None = None
) -> bytes:
    """``data`` with each page shown turned ``turn`` degrees clockwise (``/Rotate``), and
    showing only ``crop`` (a crop box, PDF points) of it."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        if turn:
            page.rotate(turn)
        if crop:
            page.cropbox = RectangleObject(crop)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _assert_boxes_cover_the_ink(data: bytes, chunks: list[Chunk], number: int = 1) -> None:
    """On page ``number`` as pdfium draws it, every box holds print, and all the print lies
    in a box: the boxes are where a person sees the text."""
    image = Image.open(io.BytesIO(render_png(data, number, 800))).convert("L")
    ink = np.asarray(image) < 128
    high, wide = ink.shape
    covered = np.zeros_like(ink)
    pad = 3  # pixels: anti-aliased edges of glyphs
    for box in (b for chunk in chunks for b in chunk.boxes if b.page == number):
        x0, x1 = int(box.x0 * wide) - pad, int(np.ceil(box.x1 * wide)) + pad
        y0, y1 = int(box.y0 * high) - pad, int(np.ceil(box.y1 * high)) + pad
        region = (slice(max(y0, 0), y1), slice(max(x0, 0), x1))
        assert ink[region].sum() > 0, box
        covered[region] = True
    assert ink.sum() > 1000
    assert ink[~covered].sum() == 0


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_turned_pages_boxes_fall_where_its_text_is_shown(turn: int) -> None:
    """pdfium places characters on the page upright, but draws it turned by its /Rotate: a
    box is turned as the page is, so the highlight falls on the passage as shown."""
    data = text_pdf_bytes([LONG], font="core")
    upright, shown = _chunks(data), _chunks(_shown(data, turn))
    assert len(shown) == len(upright) > 5
    for chunk, same in zip(shown, upright, strict=True):
        assert chunk.boxes
        assert [b.model_dump() for b in chunk.boxes] == [
            pytest.approx(
                {
                    **b.model_dump(),
                    **dict(
                        zip(
                            ("x0", "y0", "x1", "y1"),
                            turned((b.x0, b.y0, b.x1, b.y1), turn),
                            strict=True,
                        )
                    ),
                },
                abs=2e-5,
            )
            for b in same.boxes
        ]
        assert letters(text_under(_shown(data, turn), chunk.boxes)) == letters(chunk.text)
    _assert_boxes_cover_the_ink(_shown(data, turn), shown)


@pytest.mark.parametrize("turn", [0, 90])
def test_boxes_are_fractions_of_the_part_of_the_page_shown(turn: int) -> None:
    """A crop box that does not start at the page's corner: pdfium draws the crop box only,
    and the boxes are fractions of it."""
    data = text_pdf_bytes([LONG[:1500]], font="core")
    cropped = _shown(data, turn, crop=(30, 200, 580, 820))
    chunks = _chunks(cropped)
    assert chunks
    assert all(letters(text_under(cropped, c.boxes)) == letters(c.text) for c in chunks)
    _assert_boxes_cover_the_ink(cropped, chunks)


def test_a_chunk_whose_text_is_not_on_its_page_gets_no_boxes() -> None:
    line = TextLine(text="Something else entirely", box=(0.1, 0.1, 0.9, 0.12))
    page = Page(number=1, text="The reservoir", lines=[line])
    chunk = Chunk(document_id="d", ordinal=0, text="The reservoir", page_start=1, page_end=1,
                  char_start=0, char_end=13)  # fmt: skip
    assert chunk_boxes([chunk], [page])[0].boxes == []


def test_without_character_edges_a_line_is_cut_as_if_evenly_spread() -> None:
    """OCR lines: a box only, so part of a line is cut in proportion to its characters."""
    line = TextLine(text="aaaa bbbb", box=(0.1, 0.5, 1.0, 0.6))
    page = Page(number=3, text="aaaa bbbb", lines=[line])
    chunk = Chunk(document_id="d", ordinal=0, text="bbbb", page_start=3, page_end=3,
                  char_start=5, char_end=9)  # fmt: skip
    (box,) = chunk_boxes([chunk], [page])[0].boxes
    assert (box.page, box.x0, box.y0, box.x1, box.y1) == (3, pytest.approx(0.6), 0.5, 1.0, 0.6)


def test_files_without_pages_have_no_boxes() -> None:
    page = Page(number=1, text="A section of a Word file.", section="Scope")
    chunk = Chunk(document_id="d", ordinal=0, text=page.text, page_start=1, page_end=1,
                  char_start=0, char_end=len(page.text), section="Scope")  # fmt: skip
    assert chunk_boxes([chunk], [page])[0].boxes == []


SCANNED = [
    "The harbour wall was completed in 1890 by the engineer Thomas Reed. " * 3,
    "The reservoir holds four million cubic metres of water. It was filled in 1902.",
]


def _union(boxes: list[Box]) -> tuple[float, float, float, float]:
    return (min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes),
            max(b.y1 for b in boxes))  # fmt: skip


def _read(reader: PdfLoader | IsolatedParser, data: bytes) -> list[Chunk]:
    pages = reader.pages(data, "scan.pdf")
    parsed = ParsedDocument(id="d", filename="scan.pdf", kind="pdf", size_bytes=1, pages=pages)
    return chunk_boxes(Chunker(1000, 100).split(parsed), pages)


@pytest.mark.parametrize(("engine", "isolated"), [("tesseract", False), ("rapidocr", False),
                                                  ("rapidocr", True)])  # fmt: skip
def test_a_scanned_pages_chunks_are_boxed_where_the_text_is_printed(
    engine: str, isolated: bool
) -> None:
    """The OCR engine's line boxes on a scan fall where the text PDF it was made from prints
    the same lines."""
    if reason := ENGINES[engine].unavailable(("eng",)):
        pytest.skip(reason)
    text = text_pdf_bytes(SCANNED, font="dejavu")
    printed = _chunks(text, 1000)
    options = OcrOptions(engine=engine, languages=("eng",), dpi=150)
    if isolated:
        settings = IngestSettings()
        parser = IsolatedParser(settings.parse_timeout_s, settings.parse_memory_mb, ocr=options)
        try:
            scanned = _read(parser, scan_pdf(text, dpi=150))
        finally:
            parser.close()
    else:
        scanned = _read(PdfLoader(ocr=options), scan_pdf(text, dpi=150))
    assert [c.page_start for c in scanned] == [c.page_start for c in printed] == [1, 2]
    for ocr, pdf in zip(scanned, printed, strict=True):
        assert ocr.boxes
        for box in ocr.boxes:  # each on a printed line (an engine may miss a line)
            assert any(
                (box.y0, box.y1) == pytest.approx((line.y0, line.y1), abs=0.01)
                for line in pdf.boxes
            ), box
        assert _union(ocr.boxes) == pytest.approx(_union(pdf.boxes), abs=0.02)


def test_boxes_come_through_the_isolated_parser() -> None:
    """The parser's workers place the characters; the lines cross back to the service."""
    data = text_pdf_bytes([LONG], font="core")
    settings = IngestSettings()
    parser = IsolatedParser(settings.parse_timeout_s, settings.parse_memory_mb, workers=1)
    try:
        pages = parser.pages(data, "r.pdf")
    finally:
        parser.close()
    parsed = ParsedDocument(id="d", filename="r.pdf", kind="pdf", size_bytes=1, pages=pages)
    chunks = chunk_boxes(Chunker(300, 60).split(parsed), pages)
    assert all(letters(text_under(data, c.boxes)) == letters(c.text) for c in chunks)
