"""Parsing in a child process: a hostile file fails alone, with the limit it broke."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import IngestError
from core.settings import IngestSettings
from index.knowledge import KnowledgeIndex
from ingest.isolation import IsolatedParser
from ingest.loaders import PdfLoader
from ingest.pipeline import Ingestor
from tests.utils.pdfs import (
    decompression_bomb_pdf,
    make_encrypted_pdf,
    make_image_only_pdf,
    text_pdf_bytes,
)

pytestmark = pytest.mark.slow  # each test spawns a parser process (about a second)


@pytest.fixture(params=[1, 2], ids=["one-worker", "two-workers"])
def parser(request: pytest.FixtureRequest) -> Iterator[IsolatedParser]:
    """Every limit holds whether a file is read by one worker or split between two."""
    isolated = IsolatedParser(timeout_s=60, memory_mb=256, workers=request.param)
    yield isolated
    isolated.close()


def test_a_decompression_bomb_is_refused_and_the_next_file_parses(parser: IsolatedParser) -> None:
    with pytest.raises(IngestError) as refused:
        parser.pages(decompression_bomb_pdf(expanded_mb=400), "bomb.pdf")
    assert refused.value.reason == "too_large"
    assert "256 MiB" in refused.value.detail
    pages = parser.pages(text_pdf_bytes(["Still here."], font="core"), "ok.pdf")
    assert pages[0].text == "Still here."


def test_a_file_that_parses_too_long_is_stopped(parser: IsolatedParser) -> None:
    parser.pages(text_pdf_bytes(["warm up"], font="core"), "warm.pdf")
    parser.timeout_s = 0.2
    many = text_pdf_bytes([f"Page {i} " + "words and more words " * 60 for i in range(400)])
    with pytest.raises(IngestError) as refused:
        parser.pages(many, "long.pdf")
    assert refused.value.reason == "too_slow"


def test_errors_cross_the_process_boundary_whole(parser: IsolatedParser, tmp_path: Path) -> None:
    locked = make_encrypted_pdf(tmp_path / "locked.pdf", "Secret minutes.").read_bytes()
    with pytest.raises(IngestError) as refused:
        parser.check(locked, "locked.pdf")
    assert (refused.value.filename, refused.value.reason) == ("locked.pdf", "encrypted")


def test_the_ingestor_parses_pdfs_in_isolation_by_default(index: KnowledgeIndex) -> None:
    ingestor = Ingestor(IngestSettings(chunk_size=200, chunk_overlap=40), index)
    try:
        assert ingestor.isolated is not None
        result = ingestor.ingest_bytes(text_pdf_bytes(["One.", "Two."]), "two.pdf", "c")
        assert result.document.pages == 2
    finally:
        ingestor.close()


def test_workers_share_a_file_and_its_pages_come_back_in_order(parser: IsolatedParser) -> None:
    texts = [f"Page {n} of the harbour report." for n in range(1, 8)]
    data = text_pdf_bytes(texts, font="core")
    pages = parser.pages(data, "report.pdf")
    assert pages == PdfLoader().pages(data, "report.pdf")  # what one process reads
    assert [(p.number, p.text) for p in pages] == list(enumerate(texts, 1))


def test_a_scan_without_text_says_so_however_it_was_split(
    parser: IsolatedParser, tmp_path: Path
) -> None:
    scan = make_image_only_pdf(tmp_path / "scan.pdf").read_bytes()
    with pytest.raises(IngestError) as refused:
        parser.pages(scan, "scan.pdf")
    assert refused.value.reason == "needs_ocr"


def test_the_ingestor_parses_with_the_workers_settings_name(index: KnowledgeIndex) -> None:
    ingestor = Ingestor(IngestSettings(chunk_size=200, chunk_overlap=40, parse_workers=3), index)
    try:
        assert ingestor.isolated is not None
        assert ingestor.isolated.workers == 3
        result = ingestor.ingest_bytes(text_pdf_bytes(["A.", "B.", "C.", "D."]), "d.pdf", "c")
        assert result.document.pages == 4
    finally:
        ingestor.close()
