"""Word (.docx), PowerPoint (.pptx) and web pages (.html) as pages of clean text.

Slides are pages. Word files and web pages have no pages: each section (a heading and what
follows it, up to the next heading) becomes one numbered "page" whose ``section`` is the
heading, and citations name that heading.

An Office file is a ZIP archive, so it is checked before any parser opens it: a
password-protected one (an OLE container holding an encrypted package), a legacy binary one,
a broken archive and one that would unpack to far more than it weighs (a zip bomb) are
refused with the reason.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from core.errors import IngestError
from core.files import DOCUMENT_TYPES
from core.types import Page
from ingest.base import Loader, PageProgress
from ingest.text import clean_text

# An Office file's parts are XML that compresses 5-20x; a zip bomb's, thousands of times.
MAX_UNPACKED_MB = 512
MAX_RATIO = 200
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_HEADING_STYLE = re.compile(r"^(Heading \d|Title)$", re.IGNORECASE)
FIRST_SECTION = "(beginning)"  # the label of text before a document's first heading


def check_office_zip(data: bytes, filename: str, kind: str) -> None:
    """Refuse what is not an Office Open XML archive safe to unpack, saying why."""
    if not data:
        raise IngestError(filename, "empty", "is an empty file")
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED_STREAM in data:
            raise IngestError(
                filename, "encrypted", "is password-protected: save a copy without the password"
            )
        raise IngestError(
            filename, "unsupported_type", f"is a legacy binary Office file, not {kind}: save it "
            f"as {kind} first",
        )  # fmt: skip
    if not data.startswith(b"PK"):
        raise IngestError(filename, "corrupt", f"is not a {kind} file (not a ZIP archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise IngestError(filename, "corrupt", f"is a broken {kind} archive: {exc}") from exc
    unpacked = sum(m.file_size for m in members)
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 2**20 and ratio > MAX_RATIO:
            raise IngestError(
                filename,
                "too_large",
                f"holds {member.filename!r}, which unpacks {ratio:.0f} times larger (a zip bomb?)",
            )
    if unpacked > MAX_UNPACKED_MB * 2**20:
        raise IngestError(
            filename,
            "too_large",
            f"unpacks to {unpacked / 2**20:.0f} MiB, more than the limit of {MAX_UNPACKED_MB} MiB",
        )


def _sections(blocks: Iterator[tuple[bool, str]], first: str) -> list[Page]:
    """(is heading, text) blocks -> one page per section, numbered from 1."""
    pages: list[Page] = []
    title, body = first, []  # type: str, list[str]

    def close() -> None:
        # The heading is part of its section's text: it is often what a question names.
        text = clean_text("\n\n".join(([] if title == first else [title]) + body))
        if text:
            pages.append(Page(number=len(pages) + 1, text=text, section=title))

    for is_heading, text in blocks:
        text = text.strip()
        if not text:
            continue
        if is_heading:
            close()
            title, body = " ".join(text.split())[:200], []
        else:
            body.append(text)
    close()
    return pages


class _OfficeLoader(Loader):
    def check(self, data: bytes, filename: str) -> None:
        check_office_zip(data, filename, self.extensions[0])

    def pages(self, data: bytes, filename: str, progress: PageProgress | None = None) -> list[Page]:
        self.check(data, filename)
        try:
            pages = self._read(data)
        except IngestError:
            raise
        except MemoryError:
            raise
        except Exception as exc:  # a valid ZIP with broken or missing parts
            raise IngestError(
                filename,
                "corrupt",
                f"is not a readable {self.extensions[0]} file ({type(exc).__name__}: {exc})",
            ) from exc
        if not any(p.text for p in pages):
            raise IngestError(filename, "empty", "holds no text")
        return pages

    def _read(self, data: bytes) -> list[Page]:
        raise NotImplementedError


class DocxLoader(_OfficeLoader):
    """Word documents: paragraphs and tables in order, one page per heading's section."""

    kind = "docx"
    extensions = DOCUMENT_TYPES[kind]

    def _read(self, data: bytes) -> list[Page]:
        import docx
        from docx.table import Table

        document = docx.Document(io.BytesIO(data))

        def blocks() -> Iterator[tuple[bool, str]]:
            for item in document.iter_inner_content():
                if isinstance(item, Table):
                    yield False, _table_text(item)
                else:
                    style = item.style.name if item.style is not None else ""
                    yield bool(_HEADING_STYLE.match(style or "")), item.text

        return _sections(blocks(), document.core_properties.title or FIRST_SECTION)


def _table_text(table: Any) -> str:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:  # a merged cell repeats in every column it spans
            if not cells or cell.text != cells[-1]:
                cells.append(cell.text)
        rows.append(" | ".join(c.strip() for c in cells))
    return "\n\n".join(r for r in rows if r.strip(" |"))


class PptxLoader(_OfficeLoader):
    """PowerPoint decks: one page per slide (its text frames and tables), speaker notes after."""

    kind = "pptx"
    extensions = DOCUMENT_TYPES[kind]

    def _read(self, data: bytes) -> list[Page]:
        import pptx

        deck = pptx.Presentation(io.BytesIO(data))
        pages = []
        for number, slide in enumerate(deck.slides, 1):
            parts = [t for shape in slide.shapes for t in _shape_texts(shape)]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                parts.append(slide.notes_slide.notes_text_frame.text)
            pages.append(Page(number=number, text=clean_text("\n\n".join(parts))))
        return pages


def _shape_texts(shape: Any) -> Iterator[str]:
    if shape.shape_type is not None and hasattr(shape, "shapes"):  # a group
        for inner in shape.shapes:
            yield from _shape_texts(inner)
    elif getattr(shape, "has_table", False) and shape.has_table:
        yield _table_text(shape.table)
    elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        yield "\n\n".join(p.text for p in shape.text_frame.paragraphs)


_BLOCK_TAGS = (
    "p", "div", "li", "tr", "pre", "blockquote", "section", "article", "main", "aside",
    "header", "footer", "table", "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "br",
    "hr", "td", "th", "caption", "form", "address", "details", "summary",
)  # fmt: skip
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_HIDDEN_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
_MARK = "\x1e"  # splits the text at headings; a control character clean_text would drop


class HtmlLoader(Loader):
    """Web pages: the visible text, one page per heading's section."""

    kind = "html"
    extensions = DOCUMENT_TYPES[kind]

    def check(self, data: bytes, filename: str) -> None:
        if not data.strip():
            raise IngestError(filename, "empty", "is an empty file")
        if data.lstrip()[:4] in (b"%PDF", b"PK\x03\x04") or b"\x00" in data[:1024]:
            raise IngestError(filename, "corrupt", "is binary data, not a web page")

    def pages(self, data: bytes, filename: str, progress: PageProgress | None = None) -> list[Page]:
        from bs4 import BeautifulSoup

        self.check(data, filename)
        soup = BeautifulSoup(data, "html.parser")  # guesses the encoding from the bytes
        title = soup.title.get_text(" ", strip=True) if soup.title else ""
        for tag in soup(_HIDDEN_TAGS):
            tag.decompose()
        for tag in soup(_BLOCK_TAGS):
            tag.append("\n\n")
        for tag in soup(_HEADING_TAGS):
            tag.replace_with(f"\n\n{_MARK}{tag.get_text(' ', strip=True)}{_MARK}\n\n")
        parts = soup.get_text().split(_MARK)
        # parts alternate: text, heading, text, heading, text ...
        blocks = ((i % 2 == 1, part) for i, part in enumerate(parts))
        pages = _sections(blocks, title or FIRST_SECTION)
        if not any(p.text for p in pages):
            raise IngestError(filename, "empty", "holds no text")
        return pages


OFFICE_LOADERS: tuple[type[Loader], ...] = (DocxLoader, PptxLoader, HtmlLoader)
