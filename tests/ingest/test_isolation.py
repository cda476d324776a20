"""Parsing in a child process: a hostile file fails alone, with the limit it broke."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import IngestError
from core.settings import IngestSettings
from index.knowledge import KnowledgeIndex
from ingest.isolation import IsolatedParser
from ingest.pipeline import Ingestor
from tests.utils.pdfs import decompression_bomb_pdf, make_encrypted_pdf, text_pdf_bytes

pytestmark = pytest.mark.slow  # each test spawns a parser process (about a second)


@pytest.fixture
def parser() -> Iterator[IsolatedParser]:
    isolated = IsolatedParser(timeout_s=60, memory_mb=256)
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
