"""Parse files in a child process with a time and a memory limit.

PDF parsers run C code over hostile input: a decompression bomb, a page tree that loops, a
file that crashes pdfium. In a child process the worst any file can do is fail on its own,
with an IngestError that names the limit; the server and its other jobs go on.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import resource
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import PurePath
from typing import Any, cast

from pebble import ProcessExpired, ProcessPool

from core.errors import IngestError
from core.types import Page
from ingest.base import PageProgress
from ingest.loaders import OcrOptions, PdfLoader, TextPass, loader_for
from ingest.ocr import ENGINES

log = logging.getLogger(__name__)


def _limit_memory(limit_mb: int) -> None:
    limit = limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run(
    action: str,
    source: bytes | str,
    filename: str,
    password: str | None,
    max_pages: int,
    ocr: OcrOptions | None = None,
    start: int = 0,
    step: int = 1,
) -> object:
    loader = loader_for(filename, password=password, max_pages=max_pages, ocr=ocr)
    if isinstance(loader, PdfLoader):
        if action == "slice":
            return loader.page_slice(cast(bytes, source), filename, start, step)
        if action == "ocr":  # source: the PDF's path; start: the page number
            return loader.ocr_pages(source, filename, [start])[0]
    if action == "check":
        loader.check(cast(bytes, source), filename)
        return None
    return loader.pages(cast(bytes, source), filename)


def _pool(workers: int, memory_mb: int) -> ProcessPool:
    # spawn, not fork: the parent has threads (torch, the web server) to not copy.
    return ProcessPool(
        max_workers=workers,
        initializer=_limit_memory,
        initargs=(memory_mb,),
        context=multiprocessing.get_context("spawn"),
    )


class WorkerPool:
    """A pool of ``workers`` spawned processes under ``memory_mb`` each, started on first use
    and again after pebble stopped it (a worker killed for its time), shared by threads."""

    def __init__(self, workers: int, memory_mb: int) -> None:
        self.workers = workers
        self.memory_mb = memory_mb
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def get(self) -> ProcessPool:
        with self._lock:
            if self._pool is None or not self._pool.active:
                self._pool = _pool(self.workers, self.memory_mb)
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.stop()
                self._pool.join()
                self._pool = None


class IsolatedParser:
    """Spawned workers, reused from file to file and replaced when a file kills one.

    It reads files as their loaders do (same ``pages`` and ``check``), in the workers. A PDF's
    text layer is read in ``workers`` parts at once, each every ``workers``-th page, so
    parsing, which the embedder waits for, takes that much less time on a free core; its
    scanned pages are then OCR'd one per task, each under ``ocr_page_timeout_s``; where
    RapidOCR reads them, in processes of their own under ``ocr_memory_mb``.
    """

    def __init__(
        self,
        timeout_s: float,
        memory_mb: int,
        password: str | None = None,
        max_pages: int = 5000,
        workers: int = 1,
        ocr: OcrOptions | None = None,
        ocr_page_timeout_s: float = 120,
        ocr_memory_mb: int = 3072,
    ) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.password = password
        self.max_pages = max_pages
        self.workers = workers
        self.ocr = ocr
        self.ocr_page_timeout_s = ocr_page_timeout_s
        self.ocr_memory_mb = ocr_memory_mb
        self._workers = WorkerPool(workers, memory_mb)

    def _get_pool(self) -> ProcessPool:
        return self._workers.get()

    def pages(self, data: bytes, filename: str, progress: PageProgress | None = None) -> list[Page]:
        if PurePath(filename).suffix.lower() not in PdfLoader.extensions:
            return cast(list[Page], self._call("pages", data, filename)[0])
        parts = cast(list[TextPass], self._call("slice", data, filename, self.workers))
        text = TextPass(
            sorted((page for part in parts for page in part.pages), key=lambda p: p.number),
            sorted(n for part in parts for n in part.scanned),
        )
        loader = PdfLoader(self.password, self.max_pages, self.ocr)
        todo = loader.to_ocr(filename, text)
        if todo:
            for page in self._ocr(data, filename, todo, progress):
                text.pages[page.number - 1] = page
        return loader.finish(filename, text.pages)

    def _ocr(
        self, data: bytes, filename: str, numbers: list[int], progress: PageProgress | None
    ) -> list[Page]:
        """OCR the pages ``numbers``, one task each, so progress moves page by page.

        Where an engine that needs more memory reads them (RapidOCR, for Chinese pages or for
        every page), the pages are read in ``ocr.workers`` processes of their own, side by
        side, under ``ocr_memory_mb``, the engines loaded once for the document and gone after
        it; else in the parser's workers. A page the CJK engine could not read there (out of
        its memory, over its time) is read again by the first engine alone, in the parser's
        workers: a worse reading, not a lost file.
        """
        assert self.ocr is not None, "to_ocr() picks the pages only with an engine"
        engines = [name for name in (self.ocr.engine, self.ocr.cjk_engine) if name]
        own = any(ENGINES[name].own_process for name in engines)
        fallback = self._fallback() if own else None
        # The workers read the PDF from a file: its bytes are not sent once per page.
        with tempfile.NamedTemporaryFile(suffix=".pdf") as spool:
            spool.write(data)
            spool.flush()
            ocr_pool = _pool(self.ocr.workers, self.ocr_memory_mb) if own else None
            tasks = {
                self._schedule(ocr_pool or self._get_pool(), spool.name, filename, n): n
                for n in numbers
            }
            again: set[Future] = set()  # the first engine's second tries
            pages: list[Page] = []
            if progress is not None:
                progress(0, len(numbers))  # the pages to read, before the first is read
            try:
                while tasks:
                    done, _ = wait(tasks, return_when=FIRST_COMPLETED)
                    for future in done:
                        number = tasks.pop(future)
                        if fallback and future not in again and future.exception() is not None:
                            self._log_fallback(filename, number, future.exception())
                            retry = self._schedule(
                                self._get_pool(), spool.name, filename, number, fallback
                            )
                            tasks[retry] = number
                            again.add(retry)
                            continue
                        memory = self.ocr_memory_mb if own and future not in again else None
                        pages.append(self._result(future, filename, number, memory))
                        if progress is not None:
                            progress(len(pages), len(numbers))
            finally:
                for future in tasks:
                    future.cancel()
                if ocr_pool is not None:
                    ocr_pool.stop()
                    ocr_pool.join()
        return pages

    def _fallback(self) -> OcrOptions | None:
        """The options that read a page with the first engine alone, where the CJK engine is
        another one that runs in processes of its own; None where there is none such."""
        assert self.ocr is not None
        assert self.ocr.engine is not None
        cjk = self.ocr.cjk_engine
        if not cjk or cjk == self.ocr.engine or ENGINES[self.ocr.engine].own_process:
            return None
        return dataclasses.replace(self.ocr, cjk_engine=None)

    def _schedule(
        self,
        pool: ProcessPool,
        spool: str,
        filename: str,
        number: int,
        ocr: OcrOptions | None = None,
    ) -> Future:
        call = ("ocr", spool, filename, self.password, self.max_pages, ocr or self.ocr, number)
        return cast(Future, pool.schedule(_run, args=call, timeout=self.ocr_page_timeout_s))

    def _log_fallback(self, filename: str, number: int, exc: BaseException | None) -> None:
        why = (
            f"over {self.ocr_page_timeout_s:g} s"
            if isinstance(exc, FutureTimeout)
            else f"{type(exc).__name__}: {exc}"[:300]
        )
        log.warning(
            "%s: the CJK OCR engine failed on page %d (%s; its limit is %d MiB); the first "
            "engine reads it alone",
            filename,
            number,
            why,
            self.ocr_memory_mb,
        )

    def _result(
        self, future: Future, filename: str, number: int, memory_mb: int | None = None
    ) -> Any:
        """An OCR task's result, or the IngestError that says why the page could not be read."""
        memory_mb = memory_mb or self.memory_mb
        try:
            return future.result()
        except FutureTimeout as exc:
            raise IngestError(
                filename,
                "too_slow",
                f"took more than {self.ocr_page_timeout_s:g} s to OCR page {number}",
            ) from exc
        except ProcessExpired as exc:
            raise IngestError(
                filename,
                "too_large",
                f"made OCR fail on page {number} (exit code {exc.exitcode}): it needs more "
                f"than {memory_mb} MiB",
            ) from exc
        except IngestError:
            raise
        except MemoryError as exc:
            raise IngestError(
                filename, "too_large", f"needs more than {memory_mb} MiB to OCR page {number}"
            ) from exc
        except Exception as exc:
            # ONNX Runtime's out-of-memory is a RuntimeException; a library that cannot be
            # mapped under the limit, an ImportError.
            if "bad_alloc" in str(exc) or "failed to map segment" in str(exc):
                raise IngestError(
                    filename,
                    "too_large",
                    f"needs more than {memory_mb} MiB to OCR page {number}",
                ) from exc
            raise IngestError(
                filename,
                "corrupt",
                f"page {number} could not be OCR'd ({type(exc).__name__}: {exc})",
            ) from exc

    def check(self, data: bytes, filename: str) -> None:
        self._call("check", data, filename)

    def _call(self, action: str, data: bytes, filename: str, parts: int = 1) -> list[object]:
        """``action`` on the file in a worker; with ``parts`` > 1, a slice of the pages in
        each of that many workers at once. Returns each part's result."""
        calls: list[tuple[object, ...]] = [
            (action, data, filename, self.password, self.max_pages, self.ocr, i, parts)
            for i in range(parts)
        ]
        try:
            return self._attempt(calls)
        except ProcessExpired:
            # A worker can die for reasons of its own (the kernel, a signal): a file is refused
            # only when it kills a fresh worker too.
            try:
                return self._attempt(calls)
            except ProcessExpired as exc:  # C code that aborted (often: memory) or crashed
                raise IngestError(
                    filename,
                    "too_large",
                    f"made the parser fail twice (exit code {exc.exitcode}): it needs more "
                    f"than {self.memory_mb} MiB to parse, or is malformed",
                ) from exc

    def _attempt(self, calls: list[tuple[object, ...]]) -> list[object]:
        filename = str(calls[0][2])
        pool = self._get_pool()
        futures = [pool.schedule(_run, args=call, timeout=self.timeout_s) for call in calls]
        try:
            return [future.result() for future in futures]
        except (IngestError, ProcessExpired):
            raise
        except FutureTimeout as exc:
            raise IngestError(
                filename, "too_slow", f"took more than {self.timeout_s:g} s to parse"
            ) from exc
        except MemoryError as exc:
            raise IngestError(
                filename, "too_large", f"needs more than {self.memory_mb} MiB to parse"
            ) from exc
        except Exception as exc:  # whatever else hostile input makes a parser raise
            raise IngestError(
                filename, "corrupt", f"could not be parsed ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            for future in futures:  # when one part failed, the others' work is wasted
                future.cancel()

    def close(self) -> None:
        self._workers.close()
