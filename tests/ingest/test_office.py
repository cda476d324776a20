"""Word, PowerPoint and web pages: sections and slides as pages, hostile archives refused."""

from __future__ import annotations

import pytest

from core.errors import IngestError
from core.types import ParsedDocument
from ingest.chunking import Chunker
from ingest.loaders import loader_for
from ingest.office import FIRST_SECTION
from tests.utils.office import (
    corrupt_docx,
    docx_bytes,
    docx_with_table,
    encrypted_docx,
    html_bytes,
    pptx_bytes,
    zip_bomb_docx,
)


def _pages(data: bytes, name: str) -> list:
    return loader_for(name).pages(data, name)


def test_a_word_file_has_a_page_per_section_named_by_its_heading() -> None:
    data = docx_bytes(
        [
            ("", ["An opening paragraph before any heading."]),
            ("Scope", ["The harbour wall is 300 metres long.", "It was built in 1890."]),
            ("Costs", ["Repairs cost 2 million euros."]),
        ],
        title="Harbour report",
    )
    pages = _pages(data, "report.docx")
    assert [(p.number, p.section) for p in pages] == [
        (1, "Harbour report"),
        (2, "Scope"),
        (3, "Costs"),
    ]
    assert pages[1].text == "Scope\n\nThe harbour wall is 300 metres long.\n\nIt was built in 1890."
    assert "2 million euros" in pages[2].text


def test_text_before_the_first_heading_of_an_untitled_file_has_a_label() -> None:
    pages = _pages(docx_bytes([("", ["Only a paragraph."])]), "note.docx")
    assert [(p.section, p.text) for p in pages] == [(FIRST_SECTION, "Only a paragraph.")]


def test_word_tables_are_read_row_by_row() -> None:
    pages = _pages(docx_with_table([["Year", "Ships"], ["1890", "12"]]), "t.docx")
    assert "Year | Ships" in pages[0].text
    assert "1890 | 12" in pages[0].text


def test_chunks_of_a_word_file_carry_the_section_and_offsets_in_its_text() -> None:
    data = docx_bytes([("Scope", ["The wall is long. " * 30]), ("Costs", ["Cheap."])])
    pages = _pages(data, "r.docx")
    document = ParsedDocument(id="d", filename="r.docx", kind="docx", size_bytes=1, pages=pages)
    chunks = Chunker(200, 40).split(document)
    assert {c.section for c in chunks} == {"Scope", "Costs"}
    for chunk in chunks:
        assert document.text[chunk.char_start : chunk.char_end] == chunk.text


def test_slides_are_pages_with_their_notes() -> None:
    data = pptx_bytes(
        [("Harbour", "Built in 1890"), ("Budget", "Two million euros")],
        notes={1: "Ask the council about the rest."},
    )
    pages = _pages(data, "deck.pptx")
    assert [p.number for p in pages] == [1, 2]
    assert pages[0].text == "Harbour\n\nBuilt in 1890"
    assert "council" in pages[1].text
    assert all(p.section is None for p in pages)


def test_a_web_page_is_its_visible_text_by_section() -> None:
    data = html_bytes("Harbour", [("History", "Built in <b>18</b>90."), ("Costs", "Cheap.")])
    pages = _pages(data, "page.html")
    assert [(p.section, p.text) for p in pages] == [
        ("Harbour", "Home"),
        ("History", "History\n\nBuilt in 1890."),
        ("Costs", "Costs\n\nCheap."),
    ]
    assert not any("hidden" in p.text or "color" in p.text for p in pages)


@pytest.mark.parametrize(
    ("name", "data", "reason", "says"),
    [
        ("bomb.docx", zip_bomb_docx(expanded_mb=64), "too_large", "zip bomb"),
        ("locked.docx", encrypted_docx(), "encrypted", "password"),
        ("cut.docx", corrupt_docx(), "corrupt", "broken"),
        ("text.docx", b"just some text", "corrupt", "not a ZIP"),
        ("empty.pptx", b"", "empty", "empty"),
        ("binary.html", b"%PDF-1.4 binary", "corrupt", "binary"),
        ("blank.html", b"<html><body> </body></html>", "empty", "no text"),
    ],
)
def test_hostile_office_files_are_refused_with_a_reason(
    name: str, data: bytes, reason: str, says: str
) -> None:
    loader = loader_for(name)
    for step in (loader.check, loader.pages):
        if reason == "empty" and step == loader.check and name.endswith(".html"):
            continue  # an HTML page's emptiness shows only once it is parsed
        with pytest.raises(IngestError) as refused:
            step(data, name)
        assert (refused.value.reason, refused.value.filename) == (reason, name)
        assert says in refused.value.detail
