from __future__ import annotations

import pytest

from core.types import Page, ParsedDocument
from ingest.chunking import Chunker, weighted_length


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
