from __future__ import annotations

import pytest

from benchmarks.scans import scan_pdf
from core.settings import IngestSettings
from core.types import Box, Chunk, Page, ParsedDocument, TextLine
from ingest.boxes import chunk_boxes
from ingest.chunking import Chunker
from ingest.isolation import IsolatedParser
from ingest.loaders import OcrOptions, PdfLoader
from ingest.ocr import ENGINES
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
