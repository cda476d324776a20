"""The sources behind the answers: each document's original file, kept as uploaded, and its
pages as images (docs/sources.md). The service (:class:`kbqa.app.KBQA`) keeps an original
once its document is indexed and releases it when the document goes."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

from core.errors import InvalidRequestError, NotFoundError
from core.files import CONTENT_TYPES, write_atomically
from core.types import Document
from ingest.pages import render_png
from state.originals import Original, OriginalStore, owner_of

log = logging.getLogger(__name__)


class SourceFiles:
    """Originals in ``originals``; page images cached under ``page_cache``."""

    def __init__(
        self, originals: OriginalStore, page_cache: Path, pdf_password: str | None = None
    ) -> None:
        self.originals = originals
        self.page_cache = page_cache
        self.pdf_password = pdf_password

    def keep(self, data: bytes, document: Document) -> None:
        """Keep an indexed file's bytes, owned by its document (released when it goes)."""
        content_type = CONTENT_TYPES.get(document.kind, "application/octet-stream")
        owner = owner_of(document.collection, document.id)
        try:
            self.originals.put(data, document.filename, content_type, owner)
        except (OSError, sqlite3.Error) as exc:  # the document is indexed: it answers all the same
            log.warning("the original of %s was not kept: %s", document.filename, exc)

    def release(self, document: Document) -> None:
        """A document is gone: so is its original, and its pages' images, if no other document
        uses them."""
        try:
            self.originals.release(document.id, owner_of(document.collection, document.id))
            gone = self.originals.find(document.id) is None
        except (OSError, sqlite3.Error) as exc:  # the document is gone: say so, keep going
            log.warning("the original of %s was not released: %s", document.filename, exc)
            return
        if gone:
            shutil.rmtree(self.page_cache / document.id, ignore_errors=True)

    def original(self, document: Document) -> tuple[Original, bytes]:
        """A document's original file and its bytes, or NotFoundError saying why not."""
        if self.originals.find(document.id) is None:
            raise NotFoundError(
                f"the original of {document.filename!r} was not kept: it was indexed before "
                "kbqa kept uploaded files; upload it again to keep it"
            )
        return self.originals.get(document.id)

    def page_image(self, document: Document, page: int, width: int) -> bytes:
        """Page ``page`` of a PDF as a PNG ``width`` pixels wide, cached on disk; a page of a
        file without pages (Word, web pages) is refused."""
        if document.kind != "pdf":
            raise InvalidRequestError(
                f"{document.filename!r} is a {document.kind} file: it has no pages to show "
                "(its citations name their section); download the original instead"
            )
        if not 1 <= page <= document.pages:
            raise NotFoundError(f"{document.filename!r} has {document.pages} pages, no page {page}")
        cached = self.page_cache / document.id / f"{page}-{width}.png"
        if cached.exists():
            return cached.read_bytes()
        _, data = self.original(document)
        png = render_png(data, page, width, self.pdf_password)
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cached, png)
        return png

    def close(self) -> None:
        self.originals.close()
