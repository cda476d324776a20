"""Loaders turn a file's bytes into pages of clean text, or raise an IngestError that says why."""

from __future__ import annotations

import io
import logging
from abc import ABC, abstractmethod
from pathlib import PurePath
from typing import Any, ClassVar

import pypdf
import pypdfium2
from pypdf.errors import FileNotDecryptedError, PdfReadError

from core.errors import IngestError
from core.files import DOCUMENT_TYPES
from core.types import Page
from ingest.text import clean_text, looks_garbled

log = logging.getLogger(__name__)
logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns on every odd object


class Loader(ABC):
    """Parses one kind of file. Subclasses implement :meth:`pages`."""

    kind: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]

    @abstractmethod
    def pages(self, data: bytes, filename: str) -> list[Page]:
        """Return the file's pages, 1-based, with cleaned text."""

    def check(self, data: bytes, filename: str) -> None:
        """Refuse a file that cannot be parsed, cheaply: before it is queued, not after.

        Passing is no promise: a PDF can still turn out to hold only images.
        """
        self.pages(data, filename)


class TextLoader(Loader):
    """Plain text; a form feed starts a new page."""

    kind = "text"
    extensions = DOCUMENT_TYPES[kind]

    def pages(self, data: bytes, filename: str) -> list[Page]:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise IngestError(
                filename, "unsupported_type", f"is not UTF-8 text (byte {exc.start})"
            ) from exc
        pages = [Page(number=i, text=clean_text(t)) for i, t in enumerate(text.split("\f"), 1)]
        if not any(p.text for p in pages):
            raise IngestError(filename, "empty", "holds no text")
        return pages


class MarkdownLoader(TextLoader):
    kind = "markdown"
    extensions = DOCUMENT_TYPES[kind]


class PdfLoader(Loader):
    """PDF text through pypdf, falling back to pdfium page by page where pypdf's is garbled."""

    kind = "pdf"
    extensions = DOCUMENT_TYPES[kind]

    def __init__(self, password: str | None = None, max_pages: int = 5000) -> None:
        self.password = password
        self.max_pages = max_pages

    def pages(self, data: bytes, filename: str) -> list[Page]:
        reader, pages = self._read(data, filename, 0, 1)
        if not any(p.text for p in pages):
            if any(_has_images(reader, i) for i in range(len(reader.pages))):
                raise IngestError(filename, "needs_ocr", "has only scanned images, no text layer")
            raise IngestError(filename, "empty", "holds no text")
        return pages

    def page_slice(self, data: bytes, filename: str, start: int, step: int) -> list[Page]:
        """Every ``step``-th page from index ``start``, for reading one file in several
        processes; unlike :meth:`pages`, a slice with no text is no error."""
        return self._read(data, filename, start, step)[1]

    def _read(
        self, data: bytes, filename: str, start: int, step: int
    ) -> tuple[pypdf.PdfReader, list[Page]]:
        _check_pdf_magic(data, filename)
        reader = self._open(data, filename)
        count = self._page_count(reader, filename)
        pdfium: pypdfium2.PdfDocument | None = None
        pages: list[Page] = []
        try:
            for i in range(start, count, step):
                text = _pypdf_text(reader, i)
                if looks_garbled(text):
                    pdfium = pdfium or _open_pdfium(data, self._used_password, filename)
                    fallback = pdfium[i].get_textpage().get_text_bounded()
                    if not looks_garbled(fallback) or not text.strip():
                        text = fallback
                pages.append(Page(number=i + 1, text=clean_text(text)))
        finally:
            if pdfium is not None:
                pdfium.close()
        return reader, pages

    def check(self, data: bytes, filename: str) -> None:
        _check_pdf_magic(data, filename)
        self._page_count(self._open(data, filename), filename)

    def _open(self, data: bytes, filename: str) -> pypdf.PdfReader:
        self._used_password: str | None = None
        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                for password in ("", self.password):
                    if password is not None and reader.decrypt(password):
                        self._used_password = password or None
                        break
                else:
                    raise IngestError(filename, "encrypted", "is encrypted and needs a password")
            return reader
        except IngestError:
            raise
        except (PdfReadError, FileNotDecryptedError, ValueError, KeyError, TypeError) as exc:
            raise IngestError(filename, "corrupt", f"is not a readable PDF: {exc}") from exc
        except NotImplementedError as exc:
            raise IngestError(filename, "encrypted", f"uses unsupported encryption: {exc}") from exc

    def _page_count(self, reader: pypdf.PdfReader, filename: str) -> int:
        try:
            count = len(reader.pages)
        except Exception as exc:  # pypdf raises many kinds on broken page trees
            raise IngestError(filename, "corrupt", f"has a broken page tree: {exc}") from exc
        if count == 0:
            raise IngestError(filename, "empty", "has no pages")
        if count > self.max_pages:
            raise IngestError(
                filename, "too_large", f"has {count} pages, more than the limit {self.max_pages}"
            )
        return count


def _check_pdf_magic(data: bytes, filename: str) -> None:
    if not data:
        raise IngestError(filename, "empty", "is an empty file")
    if b"%PDF-" not in data[:1024]:
        what = "a ZIP archive" if data[:4] == b"PK\x03\x04" else "not a PDF"
        raise IngestError(filename, "corrupt", f"is {what} (no %PDF header)")


def _pypdf_text(reader: pypdf.PdfReader, index: int) -> str:
    try:
        return reader.pages[index].extract_text() or ""
    except Exception as exc:  # one broken page must not sink the document
        log.info("pypdf failed on page %d: %s; trying pdfium", index + 1, exc)
        return ""


def _open_pdfium(data: bytes, password: str | None, filename: str) -> pypdfium2.PdfDocument:
    try:
        return pypdfium2.PdfDocument(data, password=password)
    except pypdfium2.PdfiumError as exc:
        raise IngestError(filename, "corrupt", f"is not a readable PDF: {exc}") from exc


def _has_images(reader: pypdf.PdfReader, index: int) -> bool:
    try:
        resources: Any = reader.pages[index].get("/Resources")
        xobjects: Any = resources.get_object().get("/XObject") if resources else None
        if not xobjects:
            return False
        return any(
            x.get_object().get("/Subtype") == "/Image" for x in xobjects.get_object().values()
        )
    except Exception:  # a broken resource tree: no evidence of images
        return False


LOADERS: dict[str, type[Loader]] = {}
for _cls in (PdfLoader, TextLoader, MarkdownLoader):
    for _ext in _cls.extensions:
        if _ext in LOADERS:
            raise RuntimeError(f"two loaders claim {_ext}")
        LOADERS[_ext] = _cls


def loader_for(filename: str, *, password: str | None = None, max_pages: int = 5000) -> Loader:
    """The loader for a file name's extension, or an IngestError naming the type."""
    ext = PurePath(filename).suffix.lower()
    cls = LOADERS.get(ext)
    if cls is None:
        supported = ", ".join(sorted(LOADERS))
        raise IngestError(
            filename, "unsupported_type", f"has type {ext or '(none)'!r}; supported: {supported}"
        )
    if cls is PdfLoader:
        return PdfLoader(password=password, max_pages=max_pages)
    return cls()
