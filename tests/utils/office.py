"""Builders of Word, PowerPoint and web-page files for the loader tests, good and hostile."""

from __future__ import annotations

import io
import zipfile

import docx
import pptx
from msoffcrypto.format.ooxml import OOXMLFile


def docx_bytes(sections: list[tuple[str, list[str]]], title: str | None = None) -> bytes:
    """A Word file: each section a 'Heading 1' and its paragraphs (an empty heading: none)."""
    document = docx.Document()
    if title:
        document.core_properties.title = title
    for heading, paragraphs in sections:
        if heading:
            document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_with_table(rows: list[list[str]]) -> bytes:
    document = docx.Document()
    document.add_heading("Figures", level=1)
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for row, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes(slides: list[tuple[str, str]], notes: dict[int, str] | None = None) -> bytes:
    """A deck of (title, body) slides; ``notes`` maps a 0-based slide to its speaker notes."""
    deck = pptx.Presentation()
    layout = deck.slide_layouts[1]  # title and content
    for i, (title, body) in enumerate(slides):
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes and i in notes:
            slide.notes_slide.notes_text_frame.text = notes[i]
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def encrypted_docx(password: str = "pw") -> bytes:
    """A password-protected Word file, as Word writes it (ECMA-376 agile encryption)."""
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(docx_bytes([("Secret", ["The vault code is 1234."])]))).encrypt(
        password, out
    )
    return out.getvalue()


def zip_bomb_docx(expanded_mb: int = 2048) -> bytes:
    """A ZIP named .docx whose document part unpacks to ``expanded_mb`` MiB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            block = b"\x00" * 2**20
            for _ in range(expanded_mb):
                part.write(block)
    return out.getvalue()


def corrupt_docx() -> bytes:
    """A real Word file cut in half: the ZIP's directory at its end is gone."""
    data = docx_bytes([("Scope", ["A paragraph about the harbour."])])
    return data[: len(data) // 2]


def html_bytes(title: str, sections: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<h2>{h}</h2><p>{p}</p>" for h, p in sections)
    page = (
        f"<!doctype html><html><head><title>{title}</title><style>p {{color: red}}</style>"
        f"<script>var hidden = 'never indexed';</script></head>"
        f"<body><nav><a href='/'>Home</a></nav>{body}</body></html>"
    )
    return page.encode("utf-8")
