from __future__ import annotations

import pytest

from core.text import weighted_length
from core.types import Page, ParsedDocument, TextLine
from ingest.chunking import Chunker
from ingest.office import FIRST_SECTION


def _doc(*pages: str) -> ParsedDocument:
    return ParsedDocument(
        id="d1",
        filename="f.pdf",
        kind="pdf",
        size_bytes=1,
        pages=[Page(number=i, text=t) for i, t in enumerate(pages, 1)],
    )


ENGLISH = " ".join(f"Sentence number {i} says something about topic {i}." for i in range(40))


def test_offsets_point_at_the_chunk_text() -> None:
    doc = _doc(ENGLISH, ENGLISH.replace("topic", "subject"))
    chunks = Chunker(200, 40).split(doc)
    assert len(chunks) > 4
    for chunk in chunks:
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
        assert weighted_length(chunk.text) <= 200


def test_chunks_end_on_sentence_boundaries() -> None:
    chunks = Chunker(200, 40).split(_doc(ENGLISH))
    assert all(c.text.endswith(".") for c in chunks)


def test_chunks_never_cross_a_page_break() -> None:
    doc = _doc("Page one text. " * 20, "Page two text. " * 20, "Short third page.")
    chunks = Chunker(120, 20).split(doc)
    starts = doc.page_starts()
    for chunk in chunks:
        assert chunk.page_start == chunk.page_end
        assert chunk.page_start == max(i + 1 for i, s in enumerate(starts) if s <= chunk.char_start)
        word = {1: "one", 2: "two", 3: "third"}[chunk.page_start]
        assert word in chunk.text
    assert chunks[-1].text == "Short third page."


def test_overlap_repeats_text_between_neighbours() -> None:
    chunks = Chunker(200, 60).split(_doc(ENGLISH))
    shared = [a.char_end > b.char_start for a, b in zip(chunks, chunks[1:], strict=False)]
    assert any(shared)
    assert all(a.char_start < b.char_start for a, b in zip(chunks, chunks[1:], strict=False))


def test_chinese_splits_on_cjk_punctuation() -> None:
    text = "".join(f"这是第{i}个句子，它讲述了一个关于主题的故事。" for i in range(30))
    chunks = Chunker(120, 20).split(_doc(text))
    assert len(chunks) > 3
    assert all(c.text.endswith("。") for c in chunks)
    assert all(weighted_length(c.text) <= 120 for c in chunks)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_bad_sizes_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk_"):
        Chunker(size, overlap)


def _lines_page(number: int, parts: list[tuple[str, float]]) -> Page:
    lines = [TextLine(text=t, box=(0.1, 0.1, 0.9, 0.12), size=s) for t, s in parts]
    return Page(number=number, text=" ".join(t for t, _ in parts), lines=lines)


def test_a_heading_starts_a_chunk_and_holds_until_the_next_across_pages() -> None:
    body = [("The rattail lives on muddy sand floors.", 11.0)] * 3
    doc = ParsedDocument(id="d", filename="f.pdf", kind="pdf", size_bytes=1, pages=[
        _lines_page(1, [("Intro text before any heading.", 11.0), ("Rattail", 16.0), *body]),
        _lines_page(2, [*body, ("Habitat", 16.0), *body]),
    ])  # fmt: skip
    chunks = Chunker(1000, 0).split(doc)
    assert [(c.page_start, c.text.split()[0], c.heading) for c in chunks] == [
        (1, "Intro", None),
        (1, "Rattail", "Rattail"),
        (2, "The", "Rattail"),
        (2, "Habitat", "Habitat"),
    ]
    for chunk in chunks:
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
    assert chunks[2].indexed_text == "Rattail\n" + chunks[2].text
    assert chunks[1].indexed_text == chunks[1].text


def test_a_word_sections_heading_is_its_chunks_heading() -> None:
    doc = ParsedDocument(id="d", filename="f.docx", kind="docx", size_bytes=1, pages=[
        Page(number=1, text="Before any heading.", section=FIRST_SECTION),
        Page(number=2, text="Scope\n\n" + ENGLISH, section="Scope"),
    ])  # fmt: skip
    chunks = Chunker(200, 40).split(doc)
    assert chunks[0].heading is None
    assert {c.heading for c in chunks[1:]} == {"Scope"}
    assert chunks[-1].indexed_text.startswith("Scope\n")
