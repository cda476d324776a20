"""Loaders turn a file's bytes into pages of clean text, or raise an IngestError that says why."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import NamedTuple

import pypdf
import pypdfium2
from PIL import Image
from pypdf.errors import FileNotDecryptedError, PdfReadError

from core.errors import IngestError
from core.files import DOCUMENT_TYPES
from core.types import Page, TextLine
from ingest.base import Loader, PageProgress
from ingest.boxes import pdf_lines
from ingest.ocr import (
    ENGINES,
    INSTALL_HINT,
    has_images,
    load_engine,
    ocr_page,
    render,
    wants_cjk_engine,
)
from ingest.office import OFFICE_LOADERS
from ingest.text import clean_text, looks_garbled

__all__ = [
    "LOADERS",
    "Loader",
    "OcrOptions",
    "PdfLoader",
    "ScannedPage",
    "loader_for",
    "read_image",
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


@dataclass(frozen=True)
class OcrOptions:
    """How scanned pages are read; ``engine`` None: no OCR engine is available."""

    engine: str | None
    languages: tuple[str, ...] = ("eng", "chi_sim")
    cjk_engine: str | None = None  # reads again the pages ``engine`` reads as mostly CJK
    dpi: int = 200
    max_pages: int = 500
    # Threads of an engine that reads in the OCR process of its own: one, as the parser's
    # workers (two were slower than one on two shared cores: docs/benchmarks.md, ocr-memory).
    threads: int = 1


class TextPass(NamedTuple):
    """Pages as their text layer reads, and the numbers of those that need OCR."""

    pages: list[Page]
    scanned: list[int]


class ScannedPage(NamedTuple):
    """A scanned page as the parser's worker read it. With ``engine``, that engine is still to
    read its ``image`` (greyscale pixels of ``size``) in the OCR process: the first reading,
    when the first engine runs there, or the CJK engine's second one."""

    page: Page
    engine: str | None = None
    image: bytes = b""
    size: tuple[int, int] = (0, 0)


def read_image(
    options: OcrOptions, engine: str, image: bytes, size: tuple[int, int]
) -> tuple[str, list[TextLine]]:
    """The clean text ``engine`` reads on a page image from :meth:`PdfLoader.read_scanned`,
    with its lines' boxes."""
    ocr = load_engine(engine, options.languages, options.threads)
    text, lines = ocr.read_lines(Image.frombytes("L", size, image))
    return clean_text(text), lines


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
        process, the CJK engine included."""
        engine, ocr = self._engine_options()
        pages = []
        with self._pdfium(source, filename) as pdfium:
            for n in numbers:
                text, lines = ocr_page(
                    pdfium[n - 1], engine, ocr.languages, ocr.dpi, ocr.cjk_engine
                )
                pages.append(Page(number=n, text=clean_text(text), lines=lines))
        return pages

    def read_scanned(self, source: bytes | str, filename: str, number: int) -> ScannedPage:
        """Page ``number`` as read by the first OCR engine, unless that runs in a process of its
        own (:attr:`OcrEngine.own_process`); with its image when an engine is still to read it
        there (the first, or the CJK engine on a page the first read as mostly CJK)."""
        engine, ocr = self._engine_options()
        with self._pdfium(source, filename) as pdfium:
            image = render(pdfium[number - 1], ocr.dpi)
        if ENGINES[engine].own_process:
            return ScannedPage(Page(number=number, text=""), engine, image.tobytes(), image.size)
        text, lines = load_engine(engine, ocr.languages).read_lines(image)
        page = Page(number=number, text=clean_text(text), lines=lines)
        if ocr.cjk_engine and wants_cjk_engine(text, engine, ocr.cjk_engine):
            return ScannedPage(page, ocr.cjk_engine, image.tobytes(), image.size)
        return ScannedPage(page)

    def _engine_options(self) -> tuple[str, OcrOptions]:
        assert self.ocr.engine is not None, "to_ocr() picks the pages only with an engine"
        return self.ocr.engine, self.ocr

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
