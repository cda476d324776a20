"""The sources behind the answers: each document's original file, kept as uploaded, and its
pages as images (docs/sources.md). The service (:class:`kbqa.app.KBQA`) keeps an original
once its document is indexed and releases it when the document goes."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from pathlib import Path

from core.errors import InvalidRequestError, NotFoundError
from core.files import CONTENT_TYPES, write_atomically
from core.types import Document
from ingest.pages import PageRenderer
from state.originals import Original, OriginalStore, owner_of

log = logging.getLogger(__name__)


class PageCache:
    """Page images on disk under ``root`` (``<document id>/<page>-<width>.png``), at most
    ``max_bytes`` of them: a write that passes the bound deletes the images least recently
    used (each read marks its file's time), so any number of pages and widths asked for
    leaves at most that much on disk. Several processes may share ``root``."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, document_id: str, page: int, width: int) -> bytes | None:
        path = self._path(document_id, page, width)
        try:
            data = path.read_bytes()
            os.utime(path)  # used now: the last to go
        except FileNotFoundError:  # never drawn, or evicted meanwhile
            return None
        return data

    def put(self, document_id: str, page: int, width: int, png: bytes) -> None:
        if len(png) > self.max_bytes:
            return  # it would only evict everything else, itself too
        path = self._path(document_id, page, width)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, png)
        with self._lock:
            self._evict()

    def drop(self, document_id: str) -> None:
        shutil.rmtree(self.root / document_id, ignore_errors=True)

    def files(self) -> list[os.stat_result]:
        """The cached images' sizes and times (for tests and the bound)."""
        return [stat for _, stat in self._entries()]

    def _path(self, document_id: str, page: int, width: int) -> Path:
        return self.root / document_id / f"{page}-{width}.png"

    def _entries(self) -> list[tuple[Path, os.stat_result]]:
        entries = []
        for path in self.root.glob("*/*.png"):
            try:
                entries.append((path, path.stat()))
            except FileNotFoundError:  # evicted by another process meanwhile
                continue
        return entries

    def _evict(self) -> None:
        """Delete the least recently used images until the rest fit in ``max_bytes``."""
        entries = sorted(self._entries(), key=lambda entry: entry[1].st_mtime_ns)
        total = sum(stat.st_size for _, stat in entries)
        for path, stat in entries:
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= stat.st_size


class SourceFiles:
    """Originals in ``originals``; page images drawn by ``renderer`` and kept in ``pages``."""

    def __init__(
        self,
        originals: OriginalStore,
        pages: PageCache,
        renderer: PageRenderer,
        pdf_password: str | None = None,
        own_originals: bool = True,
    ) -> None:
        self.originals = originals
        self.pages = pages
        self.renderer = renderer
        self.pdf_password = pdf_password
        self.own_originals = own_originals  # else the state backend closes them

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
            self.pages.drop(document.id)

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
        file without pages (Word, web pages) is refused, a page that cannot be drawn is a
        PageNotDrawnError."""
        if document.kind != "pdf":
            raise InvalidRequestError(
                f"{document.filename!r} is a {document.kind} file: it has no pages to show "
                "(its citations name their section); download the original instead"
            )
        if not 1 <= page <= document.pages:
            raise NotFoundError(f"{document.filename!r} has {document.pages} pages, no page {page}")
        cached = self.pages.get(document.id, page, width)
        if cached is not None:
            return cached
        _, data = self.original(document)
        png = self.renderer.render(data, page, width, self.pdf_password, document.filename)
        self.pages.put(document.id, page, width, png)
        return png

    def close(self) -> None:
        self.renderer.close()
        if self.own_originals:
            self.originals.close()
