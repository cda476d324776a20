"""Ingestor: a file's bytes -> parsed pages -> chunks -> vectors -> one atomic index write."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from core.errors import IngestError
from core.settings import IngestSettings
from core.types import Document, ParsedDocument
from index.backend import IndexBackend
from ingest.base import PageProgress
from ingest.boxes import chunk_boxes
from ingest.chunking import Chunker
from ingest.isolation import IsolatedParser
from ingest.loaders import Loader, OcrOptions, loader_for
from ingest.ocr import CJK_LANGUAGES, pick_engine


@dataclass(frozen=True)
class Progress:
    """One step of one file: ``stage`` is 'ocr' (scanned pages read so far), 'parsed',
    'chunked' or 'embedded'."""

    filename: str
    stage: str
    done: int
    total: int


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class IngestResult:
    document: Document
    created: bool  # False: the same content was already in the collection


# Called with a file's bytes once its document is in the index (new or a duplicate): the
# service keeps the original file this way, whoever asked for the file to be indexed.
IndexedFn = Callable[[bytes, IngestResult], None]


def safe_filename(name: str) -> str:
    """The last part of a user-given name: a label, never a path."""
    return PurePath(name.replace("\\", "/")).name.replace("\x00", "") or "unnamed"


def content_id(data: bytes) -> str:
    """A document's id: the sha256 of its bytes, so the same file is indexed once."""
    return hashlib.sha256(data).hexdigest()


def ocr_options(settings: IngestSettings) -> OcrOptions:
    """How scanned pages are read with these settings, by the engines installed here."""
    return OcrOptions(
        engine=pick_engine(settings.ocr_engines, settings.ocr_languages),
        languages=tuple(settings.ocr_languages),
        cjk_engine=_cjk_engine(settings),
        dpi=settings.ocr_dpi,
        max_pages=settings.ocr_max_pages,
        workers=settings.ocr_workers,
        threads=settings.ocr_threads,
        det_side=settings.ocr_det_side,
        runtime=settings.ocr_runtime,
    )


def _cjk_engine(settings: IngestSettings) -> str | None:
    """The engine for CJK pages: ocr_cjk_engine where it reads the CJK languages among
    ocr_languages (RapidOCR reads chi_sim, not deu: with eng+deu+chi_sim it still reads the
    Chinese pages); None where no CJK language is asked for (no page's script to decide)."""
    cjk = [lang for lang in settings.ocr_languages if lang in CJK_LANGUAGES]
    if not settings.ocr_cjk_engine or not cjk:
        return None
    return pick_engine([settings.ocr_cjk_engine], cjk)


class Ingestor:
    def __init__(
        self, settings: IngestSettings, index: IndexBackend, indexed: IndexedFn | None = None
    ) -> None:
        self.settings = settings
        self.index = index
        self.indexed = indexed
        self.chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
        self.ocr = ocr_options(settings)
        self.isolated = (
            IsolatedParser(
                settings.parse_timeout_s,
                settings.parse_memory_mb,
                settings.pdf_password,
                settings.max_pages,
                settings.parse_workers,
                self.ocr,
                settings.ocr_page_timeout_s,
                settings.ocr_memory_mb,
            )
            if settings.isolate
            else None
        )

    def close(self) -> None:
        if self.isolated is not None:
            self.isolated.close()

    def ingest_path(
        self, path: Path, collection: str, progress: ProgressFn | None = None
    ) -> IngestResult:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IngestError(path.name, "unreadable", f"cannot be read: {exc.strerror}") from exc
        return self.ingest_bytes(data, path.name, collection, progress)

    def ingest_bytes(
        self, data: bytes, filename: str, collection: str, progress: ProgressFn | None = None
    ) -> IngestResult:
        """Index one file's content. Raises IngestError (index untouched) on bad input.

        ``filename`` is only a label and a type hint: it never becomes a path.
        """
        result = self._ingest_bytes(data, filename, collection, progress)
        if self.indexed is not None:
            self.indexed(data, result)
        return result

    def _ingest_bytes(
        self, data: bytes, filename: str, collection: str, progress: ProgressFn | None
    ) -> IngestResult:
        filename = self._check_size(data, filename)
        doc_id = content_id(data)
        existing = self.index.find_document(collection, doc_id)
        if existing is not None:
            return IngestResult(existing, created=False)
        report = progress or (lambda _: None)
        parsed = self.parse(
            data,
            filename,
            doc_id,
            lambda done, total: report(Progress(filename, "ocr", done, total)),
        )
        report(Progress(filename, "parsed", len(parsed.pages), len(parsed.pages)))
        chunks = chunk_boxes(self.chunker.split(parsed), parsed.pages)
        report(Progress(filename, "chunked", len(chunks), len(chunks)))
        done = 0

        def embedded(n: int) -> None:
            nonlocal done
            done += n
            report(Progress(filename, "embedded", done, len(chunks)))

        vectors = self.index.embedder.embed([c.indexed_text for c in chunks], progress=embedded)
        document = self.index.add_document(collection, parsed, chunks, vectors)
        return IngestResult(document, created=True)

    def check(self, data: bytes, filename: str) -> str:
        """Refuse cheaply what cannot be indexed (size, type, broken or encrypted PDF).

        Returns the file's safe name. Used before a file is queued for :meth:`ingest_bytes`.
        """
        filename = self._check_size(data, filename)
        self._reader(self._loader(filename)).check(data, filename)
        return filename

    def _check_size(self, data: bytes, filename: str) -> str:
        filename = safe_filename(filename)
        limit = int(self.settings.max_file_mb * 1024 * 1024)
        if len(data) > limit:
            raise IngestError(
                filename,
                "too_large",
                f"is {len(data) / 2**20:.1f} MiB,"
                f" more than the limit of {self.settings.max_file_mb} MiB",
            )
        return filename

    def _reader(self, loader: Loader) -> Loader | IsolatedParser:
        """Who parses: PDFs and Office files (C parsers, archives: hostile input) go to the
        isolated worker; plain text is read here."""
        if self.isolated is not None and loader.kind not in ("text", "markdown"):
            return self.isolated
        return loader

    def _loader(self, filename: str) -> Loader:
        return loader_for(
            filename,
            password=self.settings.pdf_password,
            max_pages=self.settings.max_pages,
            ocr=self.ocr,
        )

    def parse(
        self,
        data: bytes,
        filename: str,
        doc_id: str | None = None,
        progress: PageProgress | None = None,
    ) -> ParsedDocument:
        loader = self._loader(filename)
        pages = self._reader(loader).pages(data, filename, progress)
        return ParsedDocument(
            id=doc_id or content_id(data),
            filename=filename,
            kind=loader.kind,  # type: ignore[arg-type]
            size_bytes=len(data),
            pages=pages,
        )
