"""Headings are the short lines set larger than a document's body text: found by type size in a
PDF's text layer, by the width of its characters in OCR, and placed in the page's text by their
characters."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF, XPos, YPos

from core.types import Page, TextLine
from ingest.headings import MAX_CHARS, document_headings
from ingest.loaders import loader_for
from tests.utils.pdfs import font_path

BODY = "The rattail lives on muddy sand floors and eats worms."


def _line(text: str, size: float = 11.0, height: float = 0.0, width: float = 0.8) -> TextLine:
    return TextLine(text=text, box=(0.1, 0.1, 0.1 + width, 0.1 + height), size=size)


def _ocr(text: str, width: float, height: float = 0.02) -> TextLine:
    """A line as OCR reads it: a box, no type size."""
    return _line(text, 0, height, width)


def _page(lines: list[TextLine], number: int = 1) -> Page:
    return Page(number=number, text=" ".join(line.text for line in lines), lines=lines)


def test_a_larger_short_line_is_a_heading_where_its_text_is() -> None:
    lines = [
        _line("Coelorinchus smithi", 16),
        *[_line(BODY)] * 5,
        _line("Habitat", 14),
        _line(BODY),
    ]
    page = _page(lines)
    ((start, first), (later, second)) = document_headings([page])[0]
    assert (start, first) == (0, "Coelorinchus smithi")
    assert second == "Habitat"
    assert page.text[later:].startswith("Habitat " + BODY)


def test_body_text_a_little_larger_long_lines_and_too_few_lines_are_not_headings() -> None:
    banner = "A" * (MAX_CHARS + 1)
    lines = [_line("Almost as big", 12.5), _line(banner, 20), *[_line(BODY)] * 5]
    assert document_headings([_page(lines)]) == [[]]
    assert document_headings([_page([_line("Title", 20), _line(BODY)])]) == [[]]


def test_a_heading_on_two_lines_is_one_and_each_page_keeps_its_own() -> None:
    first = _page([_line("The history of", 16), _line("the rattail", 16), *[_line(BODY)] * 3])
    second = _page([*[_line(BODY)] * 3, _line("Habitat", 16), _line(BODY)], number=2)
    assert [[h for _, h in page] for page in document_headings([first, second])] == [
        ["The history of the rattail"],
        ["Habitat"],
    ]


def test_ocr_lines_are_compared_by_the_width_of_their_characters() -> None:
    body = _ocr(BODY, 0.8)  # 47 characters but spaces: 0.017 a character
    lines = [_ocr("Habitat", 0.2), *[body] * 5]  # 0.029 a character
    page = _page(lines)
    assert document_headings([page]) == [[(0, "Habitat")]]
    mismatched = page.model_copy(update={"text": page.text.replace("Habitat", "Habita1")})
    assert document_headings([mismatched]) == [[]]


def test_a_taller_ocr_box_and_a_spaced_out_fragment_are_not_headings() -> None:
    """OCR's box of a body line is taller where it holds brackets or quotes, and a formula's
    fragments come out short and spread: neither is set in a larger type."""
    tall = _ocr("“A rattail” (Coelorinchus) eats worms.", 0.6, height=0.03)
    fragment = _ocr("2 or O", 0.2, height=0.01)
    assert document_headings([_page([*[_ocr(BODY, 0.8)] * 5, tall, fragment])]) == [[]]


def test_chinese_ocr_headings_are_found_by_their_characters_width() -> None:
    """CJK characters are twice as wide as Latin ones: a body line of them is not a heading,
    a title printed larger is (the widths of a CMRC scan's lines)."""
    body = _ocr(
        "种对刚出生的新生婴儿健康状况快速评核方法。爱普格当时是在美国纽约执业的麻醉科医生。她为",
        0.799,
    )
    mixed = _ocr(
        "爱普格新生儿评分（Apgar Score）是美国医生"
        "维珍尼亚·阿普伽（Dr.Virginia Apgar）在1952年发明的一",
        0.803,
    )
    lines = [_ocr("阿普伽新生儿评分", 0.216), mixed, *[body] * 5]
    assert [h for _, h in document_headings([_page(lines)])[0]] == ["阿普伽新生儿评分"]


def test_a_pdfs_title_and_section_headings_are_found(tmp_path: Path) -> None:
    pdf = FPDF(format="A4")
    pdf.add_font("body", fname=str(font_path("dejavu")))
    pdf.add_page()
    for text, size in [
        ("Coelorinchus smithi", 18),
        (BODY * 4, 11),
        ("Habitat", 14),
        (BODY * 3, 11),
    ]:
        pdf.set_font("body", size=size)
        pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    path = tmp_path / "fish.pdf"
    pdf.output(str(path))
    pages = loader_for(str(path)).pages(path.read_bytes(), path.name)
    assert [h for _, h in document_headings(pages)[0]] == ["Coelorinchus smithi", "Habitat"]
