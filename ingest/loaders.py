"""Loaders turn a file's bytes into pages of clean text, or raise an IngestError that says why."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import PurePath
from typing import NamedTuple

import pypdf
import pypdfium2
from pypdf.errors import FileNotDecryptedError, PdfReadError

from core.errors import IngestError
from core.files import DOCUMENT_TYPES
from core.types import Page, TextLine
from ingest.base import Loader, PageProgress
from ingest.boxes import pdf_lines
from ingest.ocr import INSTALL_HINT, OcrOptions, has_images, ocr_page
from ingest.office import OFFICE_LOADERS
from ingest.text import clean_text, looks_garbled

__all__ = [
    "LOADERS",
    "Loader",
    "OcrOptions",
    "PdfLoader",
    "loader_for",
]

log = logging.getLogger(__name__)
logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns on every odd object


class TextLoader(Loader):
    """Plain text; a form feed starts a new page."""

    kind = "text"
    extensions = DOCUMENT_TYPES[kind]

    def pages(self, data: bytes, filename: str, progress: PageProgress | None = None) -> list[Page]:
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


class TextPass(NamedTuple):
    """Pages as their text layer reads, and the numbers of those that need OCR."""

    pages: list[Page]
    scanned: list[int]


class PdfLoader(Loader):
    """PDF text through pypdf, falling back to pdfium page by page where pypdf's is garbled;
    pages with no usable text but an image (scans) are OCR'd when an engine is available."""

    kind = "pdf"
    extensions = DOCUMENT_TYPES[kind]

    def __init__(
        self, password: str | None = None, max_pages: int = 5000, ocr: OcrOptions | None = None
    ) -> None:
        self.password = password
        self.max_pages = max_pages
        self.ocr = ocr or OcrOptions(engine=None)

    def pages(self, data: bytes, filename: str, progress: PageProgress | None = None) -> list[Page]:
        text = self.page_slice(data, filename, 0, 1)
        todo = self.to_ocr(filename, text)
        if todo and progress is not None:
            progress(0, len(todo))  # the bar shows the pages to read before the first is read
        for done, number in enumerate(todo, 1):
            text.pages[number - 1] = self.ocr_pages(data, filename, [number])[0]
            if progress is not None:
                progress(done, len(todo))
        return self.finish(filename, text.pages)

    def page_slice(self, data: bytes, filename: str, start: int, step: int) -> TextPass:
        """The text layer of every ``step``-th page from index ``start``, for reading one file
        in several processes."""
        _check_pdf_magic(data, filename)
        reader = self._open(data, filename)
        count = self._page_count(reader, filename)
        # pdfium reads every page too: its characters' boxes say where each line is printed.
        # (A file pdfium cannot open is still read by pypdf, without boxes, as before.)
        pdfium: pypdfium2.PdfDocument | None = None
        with contextlib.suppress(IngestError):
            pdfium = _open_pdfium(data, self._used_password, filename)
        pages: list[Page] = []
        scanned: list[int] = []
        try:
            for i in range(start, count, step):
                text = _pypdf_text(reader, i)
                if looks_garbled(text):
                    pdfium = pdfium or _open_pdfium(data, self._used_password, filename)
                    fallback = pdfium[i].get_textpage().get_text_bounded()
                    if not looks_garbled(fallback) or not text.strip():
                        text = fallback
                    # Garbage text (fonts without a Unicode map) reads right once rendered.
                    if looks_garbled(text) and (text.strip() or has_images(pdfium[i])):
                        scanned.append(i + 1)
                readable = pdfium is not None and i + 1 not in scanned
                lines = _lines(pdfium[i]) if readable else []  # type: ignore[index]
                pages.append(Page(number=i + 1, text=clean_text(text), lines=lines))
        finally:
            if pdfium is not None:
                pdfium.close()
        return TextPass(pages, scanned)

    def to_ocr(self, filename: str, text: TextPass) -> list[int]:
        """Which scanned pages to OCR: all of them, or none when no engine is available and
        other pages have text. Raises when the scans are all there is, or too many."""
        if not text.scanned:
            return []
        if self.ocr.engine is None:
            if any(p.text for p in text.pages):
                log.warning("%s: %d scanned pages left unread: no OCR engine", filename,
                            len(text.scanned))  # fmt: skip
                return []
            raise IngestError(
                filename, "needs_ocr", f"has only scanned images, no text layer; {INSTALL_HINT}"
            )
        if len(text.scanned) > self.ocr.max_pages:
            raise IngestError(
                filename,
                "too_large",
                f"has {len(text.scanned)} scanned pages, more than the OCR limit of "
                f"{self.ocr.max_pages} (KBQA_INGEST__OCR_MAX_PAGES)",
            )
        return text.scanned

    def ocr_pages(self, source: bytes | str, filename: str, numbers: list[int]) -> list[Page]:
        """OCR the pages ``numbers`` (1-based) of a PDF given as bytes or a file path, in this
        process, each read once by the engine for its script (ingest.ocr.read_scan)."""
        assert self.ocr.engine is not None, "to_ocr() picks the pages only with an engine"
        pages = []
        with self._pdfium(source, filename) as pdfium:
            for n in numbers:
                text, lines = ocr_page(pdfium[n - 1], self.ocr)
                pages.append(Page(number=n, text=clean_text(text), lines=lines))
        return pages

    @contextlib.contextmanager
    def _pdfium(self, source: bytes | str, filename: str) -> Iterator[pypdfium2.PdfDocument]:
        if isinstance(source, bytes):
            self._open(source, filename)  # the password that opens it
        pdfium = _open_pdfium(source, getattr(self, "_used_password", self.password), filename)
        try:
            yield pdfium
        finally:
            pdfium.close()

    def finish(self, filename: str, pages: list[Page]) -> list[Page]:
        """The pages, or why the document has no text at all."""
        if not any(p.text for p in pages):
            raise IngestError(filename, "empty", "holds no text")
        return pages

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


def _lines(page: pypdfium2.PdfPage) -> list[TextLine]:
    """A page's printed lines with their boxes; none where pdfium cannot say (a broken page
    loses its boxes, not its text)."""
    try:
        return pdf_lines(page)
    except pypdfium2.PdfiumError as exc:
        log.info("pdfium could not place the characters of a page: %s", exc)
        return []


def _open_pdfium(data: bytes | str, password: str | None, filename: str) -> pypdfium2.PdfDocument:
    try:
        return pypdfium2.PdfDocument(data, password=password)
    except pypdfium2.PdfiumError as exc:
        raise IngestError(filename, "corrupt", f"is not a readable PDF: {exc}") from exc


LOADERS: dict[str, type[Loader]] = {}
_ALL: tuple[type[Loader], ...] = (PdfLoader, TextLoader, MarkdownLoader, *OFFICE_LOADERS)
for _cls in _ALL:
    for _ext in _cls.extensions:
        if _ext in LOADERS:
            raise RuntimeError(f"two loaders claim {_ext}")
        LOADERS[_ext] = _cls


def loader_for(
    filename: str,
    *,
    password: str | None = None,
    max_pages: int = 5000,
    ocr: OcrOptions | None = None,
) -> Loader:
    """The loader for a file name's extension, or an IngestError naming the type."""
    ext = PurePath(filename).suffix.lower()
    cls = LOADERS.get(ext)
    if cls is None:
        supported = ", ".join(sorted(LOADERS))
        raise IngestError(
            filename, "unsupported_type", f"has type {ext or '(none)'!r}; supported: {supported}"
        )
    if cls is PdfLoader:
        return PdfLoader(password=password, max_pages=max_pages, ocr=ocr)
    return cls()
