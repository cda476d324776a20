"""A PDF page as a picture, for people to see where a passage is printed.

Drawing a page runs pdfium over an uploaded file: a page can hold a decompression bomb, a
pattern that takes minutes, a font that crashes pdfium. :class:`PageRenderer` draws in a
spawned worker under a time and a memory limit (as :mod:`ingest.isolation` parses), so the
worst a page can do is not be drawn; the API goes on.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout

import pypdfium2
from pebble import ProcessExpired

from core.errors import IngestError, NotFoundError, PageNotDrawnError
from ingest.isolation import WorkerPool
from ingest.ocr import MAX_PIXELS


def render_png(data: bytes, number: int, width: int, password: str | None = None) -> bytes:
    """Page ``number`` (1-based) of a PDF as a PNG ``width`` pixels wide (less for a page so
    large that it would pass :data:`ingest.ocr.MAX_PIXELS`); scanned pages too."""
    try:
        pdf = pypdfium2.PdfDocument(data, password=password)
    except pypdfium2.PdfiumError as exc:
        raise IngestError("the original", "corrupt", f"cannot be opened: {exc}") from exc
    try:
        if not 1 <= number <= len(pdf):
            raise NotFoundError(f"page {number} of a document of {len(pdf)} pages")
        page = pdf[number - 1]
        points_wide, points_high = page.get_size()  # as shown: turned by its /Rotate
        scale = min(width / points_wide, (MAX_PIXELS / (points_wide * points_high)) ** 0.5)
        image = page.render(scale=scale).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    finally:
        pdf.close()


Draw = Callable[[bytes, int, int, str | None], bytes]


class PageRenderer:
    """Draws pages with ``draw`` (:func:`render_png`): in a spawned worker, each page under
    ``timeout_s`` and the worker under ``memory_mb`` (``isolate``), or in this process."""

    def __init__(
        self, timeout_s: float, memory_mb: int, isolate: bool = True, draw: Draw = render_png
    ) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.isolate = isolate
        self.draw = draw  # a module's function: the worker imports it by name
        self._workers = WorkerPool(1, memory_mb)

    def render(
        self, data: bytes, number: int, width: int, password: str | None, name: str
    ) -> bytes:
        """Page ``number`` of the PDF ``data`` (called ``name`` in errors) as a PNG; a page
        that cannot be drawn (broken, over the time or the memory) is a PageNotDrawnError."""
        try:
            if not self.isolate:
                return self.draw(data, number, width, password)
            future = self._workers.get().schedule(
                self.draw, args=(data, number, width, password), timeout=self.timeout_s
            )
            return bytes(future.result())
        except NotFoundError:
            raise
        except Exception as exc:  # whatever a hostile page makes pdfium do
            raise PageNotDrawnError(name, number, self._why(exc)) from exc

    def _why(self, exc: Exception) -> str:
        if isinstance(exc, FutureTimeout):  # the worker is killed and replaced
            return f"it took more than {self.timeout_s:g} s"
        if isinstance(exc, ProcessExpired):  # pdfium crashed, or ran out of memory in C
            return (
                f"the renderer stopped (exit code {exc.exitcode}): the page needs more than "
                f"{self.memory_mb} MiB, or is malformed"
            )
        if isinstance(exc, MemoryError):
            return f"it needs more than {self.memory_mb} MiB"
        if isinstance(exc, IngestError):
            return exc.detail
        return f"{type(exc).__name__}: {exc}"[:300]

    def close(self) -> None:
        self._workers.close()
