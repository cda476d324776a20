"""Scanned pages read by OCR: the rest of the file read as before, page numbers kept."""

from __future__ import annotations

import difflib
import io
import logging
import multiprocessing
from collections.abc import Iterator

import pypdf
import pypdfium2
import pytest

from benchmarks.scans import scan_pdf
from core.errors import IngestError
from core.settings import IngestSettings
from index.knowledge import KnowledgeIndex
from ingest.isolation import IsolatedParser
from ingest.loaders import PdfLoader
from ingest.ocr import (
    ENGINES,
    MAX_PIXELS,
    OcrOptions,
    cjk_punctuation,
    layout_lines,
    pick_engine,
    render,
)
from ingest.pipeline import Ingestor, Progress
from ingest.text import clean_text
from tests.utils.pdfs import text_pdf_bytes

ENGINE = pick_engine(IngestSettings().ocr_engines, IngestSettings().ocr_languages)
needs_engine = pytest.mark.skipif(ENGINE is None, reason="no OCR engine installed")
needs_both = pytest.mark.skipif(
    any(ENGINES[e].unavailable(("eng", "chi_sim")) for e in ("tesseract", "rapidocr")),
    reason="Tesseract (with chi_sim) and RapidOCR are both needed",
)
ZH = (
    "长江是中国第一大河，全长约六千三百公里，发源于青藏高原，流经十一个省级行政区，"
    "最后在上海注入东海。三峡大坝位于湖北省宜昌市，是世界上最大的水利枢纽工程。"
)
PAGES = [
    "The harbour wall was completed in 1890 by the engineer Thomas Reed.",
    "The reservoir holds four million cubic metres of water.",
    "Repairs to the lighthouse cost two million euros in 2019.",
]


def _mixed() -> bytes:
    """Page 2 scanned, pages 1 and 3 with a text layer."""
    text = text_pdf_bytes(PAGES, font="dejavu")
    scan = scan_pdf(text, dpi=150)
    writer = pypdf.PdfWriter()
    writer.add_page(pypdf.PdfReader(io.BytesIO(text)).pages[0])
    writer.add_page(pypdf.PdfReader(io.BytesIO(scan)).pages[1])
    writer.add_page(pypdf.PdfReader(io.BytesIO(text)).pages[2])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _words(text: str) -> set[str]:
    return {w.strip(".,").lower() for w in text.split()}


def test_boxes_on_one_line_are_read_left_to_right_and_paragraphs_kept() -> None:
    import numpy as np

    def box(x: float, y: float, w: float = 50, h: float = 20) -> np.ndarray:
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])

    boxes = [(box(200, 12), "world"), (box(10, 10), "Hello"), (box(10, 40), "again"),
             (box(10, 150), "New"), (box(70, 150), "中文"), (box(130, 151), "字")]  # fmt: skip
    assert layout_lines(boxes) == "Hello world\nagain\n\nNew中文字"


@pytest.mark.parametrize(
    ("read", "printed"),
    [
        ("别名无头土香(台湾和闽南一带),无头香", "别名无头土香（台湾和闽南一带），无头香"),
        ("散寒草（四川一带)、金钮草", "散寒草（四川一带）、金钮草"),
        ("他说:你好?", "他说：你好？"),
        ("s.k.母亲", "s.k.母亲"),  # no full-width full stop: "s.k." is a name
        ("Apollo (1961-1972), it ran", "Apollo (1961-1972), it ran"),  # English as read
    ],
)
def test_ascii_punctuation_touching_chinese_is_made_full_width(read: str, printed: str) -> None:
    """RapidOCR reads a Chinese page's full-width brackets and commas as ASCII, so the text
    (and the answers quoted from it) differed from the page's ("散寒草（四川一带)")."""
    assert cjk_punctuation(read) == printed
    assert len(cjk_punctuation(read)) == len(read)  # the lines' boxes keep their offsets


def test_a_poster_page_is_rendered_at_most_max_pixels_an_a4_page_at_the_dpi() -> None:
    pdf = pypdfium2.PdfDocument.new()
    try:
        poster, a4 = pdf.new_page(8400, 8400), pdf.new_page(595, 842)  # points
        big = render(poster, 200)
        assert big.width * big.height <= MAX_PIXELS * 1.001  # pdfium rounds up
        assert big.width * big.height > 0.95 * MAX_PIXELS
        assert render(a4, 200).size == (round(595 * 200 / 72), round(842 * 200 / 72))
    finally:
        pdf.close()


def test_without_an_engine_a_scan_is_refused_with_how_to_install_one() -> None:
    scan = scan_pdf(text_pdf_bytes(PAGES[:1]))
    with pytest.raises(IngestError) as refused:
        PdfLoader(ocr=OcrOptions(engine=None)).pages(scan, "scan.pdf")
    assert refused.value.reason == "needs_ocr"
    assert "rapidocr-onnxruntime" in refused.value.detail
    assert "tesseract-ocr" in refused.value.detail


def test_no_engine_is_picked_when_none_is_asked_for_or_reads_the_language() -> None:
    assert pick_engine([], ["eng"]) is None
    assert pick_engine(["rapidocr"], ["klingon"]) is None


@needs_engine
def test_only_the_scanned_page_is_ocrd_and_numbers_hold() -> None:
    seen: list[tuple[int, int]] = []
    loader = PdfLoader(ocr=OcrOptions(engine=ENGINE, dpi=150))
    pages = loader.pages(_mixed(), "mixed.pdf", progress=lambda d, t: seen.append((d, t)))
    assert [p.number for p in pages] == [1, 2, 3]
    assert pages[0].text == PAGES[0]
    assert pages[2].text == PAGES[2]
    assert len(_words(pages[1].text) & _words(PAGES[1])) >= 7  # of 9 words
    assert seen == [(0, 1), (1, 1)]  # the page to read, then the page read


@needs_engine
def test_a_pdf_with_a_text_layer_is_not_ocrd_again() -> None:
    text = text_pdf_bytes(PAGES, font="dejavu")
    assert PdfLoader().page_slice(text, "t.pdf", 0, 1).scanned == []


@needs_engine
def test_the_ocr_page_limit_refuses_a_longer_scan() -> None:
    scan = scan_pdf(text_pdf_bytes(PAGES), dpi=72)
    with pytest.raises(IngestError) as refused:
        PdfLoader(ocr=OcrOptions(engine=ENGINE, max_pages=2)).pages(scan, "scan.pdf")
    assert refused.value.reason == "too_large"
    assert "OCR limit of 2" in refused.value.detail


@pytest.fixture
def isolated_ingestor(index: KnowledgeIndex) -> Iterator[Ingestor]:
    ingestor = Ingestor(
        IngestSettings(chunk_size=200, chunk_overlap=40, parse_workers=2, ocr_dpi=150), index
    )
    yield ingestor
    ingestor.close()


@needs_engine
@pytest.mark.slow
def test_the_isolated_parser_ocrs_page_by_page_with_progress(isolated_ingestor: Ingestor) -> None:
    events: list[Progress] = []
    scan = scan_pdf(text_pdf_bytes(PAGES), dpi=150)
    result = isolated_ingestor.ingest_bytes(scan, "scan.pdf", "c", events.append)
    assert result.document.pages == 3
    ocr = [(e.done, e.total) for e in events if e.stage == "ocr"]
    assert ocr == [(0, 3), (1, 3), (2, 3), (3, 3)]
    ids = [i for i, _ in isolated_ingestor.index.lexical_search("c", "lighthouse repairs", 1)]
    ((_, _, chunk),) = isolated_ingestor.index.chunks(ids).values()
    assert chunk.page_start == 3


@needs_engine
@pytest.mark.slow
def test_an_ocr_page_over_its_time_limit_is_refused(index: KnowledgeIndex) -> None:
    parser = IsolatedParser(
        timeout_s=60, memory_mb=2048, ocr=OcrOptions(engine=ENGINE), ocr_page_timeout_s=0.01
    )
    try:
        with pytest.raises(IngestError) as refused:
            parser.pages(scan_pdf(text_pdf_bytes(PAGES[:1])), "scan.pdf")
        assert refused.value.reason == "too_slow"
        assert "page 1" in refused.value.detail
    finally:
        parser.close()


def _read_here(engine: str, scan: bytes, dpi: int) -> str:
    """What ``engine`` reads on the scan's first page in this process (a fresh engine)."""
    pdf = pypdfium2.PdfDocument(scan)
    try:
        image = render(pdf[0], dpi)
    finally:
        pdf.close()
    return clean_text(ENGINES[engine](OcrOptions(engine=engine)).read(image))


def _cjk_parser(
    ocr_memory_mb: int, first: str = "tesseract", memory_mb: int | None = None
) -> IsolatedParser:
    settings = IngestSettings()
    cjk = "rapidocr" if first == "tesseract" else None
    return IsolatedParser(
        settings.parse_timeout_s,
        memory_mb or settings.parse_memory_mb,
        ocr=OcrOptions(engine=first, cjk_engine=cjk, dpi=150),
        ocr_page_timeout_s=settings.ocr_page_timeout_s,
        ocr_memory_mb=ocr_memory_mb,
    )


@needs_both
@pytest.mark.slow
def test_a_chinese_scan_is_read_by_rapidocr_within_the_default_limits() -> None:
    scan = scan_pdf(text_pdf_bytes([ZH], font="cjk"), dpi=150)
    parser = _cjk_parser(IngestSettings().ocr_memory_mb)
    try:
        (page,) = parser.pages(scan, "zh.pdf")
        # The CJK engine's process is the document's: gone once it is read.
        assert len(multiprocessing.active_children()) <= parser.workers
    finally:
        parser.close()
    assert page.text == _read_here("rapidocr", scan, 150)
    similar = difflib.SequenceMatcher(None, "".join(page.text.split()), ZH, autojunk=False)
    assert similar.ratio() > 0.9


@needs_both
@pytest.mark.slow
def test_a_cjk_engine_out_of_its_memory_leaves_the_first_engines_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scan = scan_pdf(text_pdf_bytes([ZH], font="cjk"), dpi=150)
    parser = _cjk_parser(256)  # too little to even load ONNX Runtime
    try:
        with caplog.at_level(logging.WARNING, logger="ingest.isolation"):
            (page,) = parser.pages(scan, "zh.pdf")
    finally:
        parser.close()
    assert page.text == _read_here("tesseract", scan, 150)
    assert "CJK OCR engine failed on page 1" in caplog.text


@needs_both
@pytest.mark.slow
def test_rapidocr_as_the_first_engine_reads_in_its_own_process_too() -> None:
    scan = scan_pdf(text_pdf_bytes([ZH], font="cjk"), dpi=150)
    # 512 MiB: enough for the parser's workers, not for ONNX Runtime and RapidOCR's models.
    parser = _cjk_parser(IngestSettings().ocr_memory_mb, first="rapidocr", memory_mb=512)
    try:
        (page,) = parser.pages(scan, "zh.pdf")
    finally:
        parser.close()
    assert page.text == _read_here("rapidocr", scan, 150)


@needs_both
def test_rapidocr_alone_out_of_its_memory_refuses_the_file_naming_the_limit() -> None:
    scan = scan_pdf(text_pdf_bytes([ZH], font="cjk"), dpi=72)
    parser = _cjk_parser(256, first="rapidocr")
    try:
        with pytest.raises(IngestError) as refused:
            parser.pages(scan, "zh.pdf")
    finally:
        parser.close()
    assert refused.value.reason == "too_large"
    assert "256 MiB" in refused.value.detail
