"""The text rules every stage reads from core: one definition each."""

from __future__ import annotations

import re

import pytest

from core.files import DOCUMENT_SUFFIXES, DOCUMENT_TYPES
from core.text import CITATION_RE, CJK_CLASS, CJK_LETTERS, HAN, STOPWORDS
from core.types import Citation
from ingest.loaders import LOADERS


def _chars(cls: str, text: str) -> str:
    return "".join(re.findall(f"[{cls}]", text))


def test_the_cjk_classes_nest_han_in_letters_in_all_of_cjk() -> None:
    text = "漢字かなカナ한글，。！abc"
    assert _chars(HAN, text) == "漢字"
    assert _chars(CJK_LETTERS, text) == "漢字かなカナ한글"
    assert _chars(CJK_CLASS, text) == "漢字かなカナ한글，。！"


@pytest.mark.parametrize(
    ("text", "numbers"), [("[1]", "1"), ("see [2, 3].", "2, 3"), ("见[2，3]", "2，3")]
)
def test_the_citation_pattern(text: str, numbers: str) -> None:
    match = CITATION_RE.search(text)
    assert match is not None
    assert match.group(1) == numbers


def test_stopwords_hold_function_words_only() -> None:
    assert {"the", "which", "would", "could", "yes"} <= STOPWORDS
    assert not {"harbour", "lighthouse", "built"} & STOPWORDS


def test_a_citation_labels_its_pages() -> None:
    fields = {"n": 2, "document_id": "d", "collection": "c", "filename": "a.pdf", "text": "t"}
    one = Citation(page=3, page_end=3, score=1.0, **fields)
    two = Citation(page=3, page_end=4, score=1.0, **fields)
    assert (one.pages, two.pages) == ("p. 3", "pp. 3-4")
    assert two.label == "[2] a.pdf, pp. 3-4"


def test_a_citation_shows_its_heading_only_where_the_passage_does_not_begin_with_it() -> None:
    fields = {"n": 1, "document_id": "d", "collection": "c", "filename": "a.pdf", "score": 1.0}
    fields |= {"page": 3, "page_end": 3, "heading": "Floods"}
    under = Citation(text="In 1926 the river rose.", **fields)
    cut_at = Citation(text="Floods\nIn 1926 it rose.", **fields)
    named = Citation(section="Floods", text="It rose.", **fields)  # a Word file's section
    shown = [c.heading_apart for c in (under, cut_at, named)]
    assert shown == ["Floods", None, None]


def test_every_accepted_file_type_has_a_loader() -> None:
    assert set(LOADERS) == set(DOCUMENT_SUFFIXES)
    assert {kind: LOADERS[suffixes[0]].kind for kind, suffixes in DOCUMENT_TYPES.items()} == {
        kind: kind for kind in DOCUMENT_TYPES
    }
