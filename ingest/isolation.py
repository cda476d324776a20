"""Parse files in a child process with a time and a memory limit.

PDF parsers run C code over hostile input: a decompression bomb, a page tree that loops, a
file that crashes pdfium. In a child process the worst any file can do is fail on its own,
with an IngestError that names the limit; the server and its other jobs go on.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import PurePath
from typing import cast

from pebble import ProcessExpired, ProcessPool

from core.errors import IngestError
from core.types import Page
from ingest.loaders import PdfLoader, loader_for


def _limit_memory(limit_mb: int) -> None:
    limit = limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run(
    action: str,
    data: bytes,
    filename: str,
    password: str | None,
    max_pages: int,
    start: int = 0,
    step: int = 1,
) -> object:
    loader = loader_for(filename, password=password, max_pages=max_pages)
    if action == "check":
        loader.check(data, filename)
        return None
    if action == "slice" and isinstance(loader, PdfLoader):
        return loader.page_slice(data, filename, start, step)
    return loader.pages(data, filename)


class IsolatedParser:
    """Spawned workers, reused from file to file and replaced when a file kills one.

    It reads PDFs as :class:`PdfLoader` does (same ``pages`` and ``check``), in the workers:
    with ``workers`` > 1 each reads every ``workers``-th page of a file at the same time, so
    parsing, which the embedder waits for, takes that much less time on a free core.
    """

    def __init__(
        self,
        timeout_s: float,
        memory_mb: int,
        password: str | None = None,
        max_pages: int = 5000,
        workers: int = 1,
    ) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.password = password
        self.max_pages = max_pages
        self.workers = workers
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ProcessPool:
        with self._lock:
            if self._pool is None or not self._pool.active:
                # spawn, not fork: the parent has threads (torch, the web server) to not copy.
                self._pool = ProcessPool(
                    max_workers=self.workers,
                    initializer=_limit_memory,
                    initargs=(self.memory_mb,),
                    context=multiprocessing.get_context("spawn"),
                )
            return self._pool

    def pages(self, data: bytes, filename: str) -> list[Page]:
        parts = self.workers if PurePath(filename).suffix.lower() in PdfLoader.extensions else 1
        if parts > 1:
            slices = cast(list[list[Page]], self._call("slice", data, filename, parts))
            pages = sorted((page for part in slices for page in part), key=lambda p: p.number)
            if any(p.text for p in pages):
                return pages
            # No text anywhere: the whole file once more, for pages() to say why (a scan
            # without a text layer, or nothing at all).
        return cast(list[Page], self._call("pages", data, filename)[0])

    def check(self, data: bytes, filename: str) -> None:
        self._call("check", data, filename)

    def _call(self, action: str, data: bytes, filename: str, parts: int = 1) -> list[object]:
        """``action`` on the file in a worker; with ``parts`` > 1, a slice of the pages in
        each of that many workers at once. Returns each part's result."""
        calls: list[tuple[object, ...]] = [
            (action, data, filename, self.password, self.max_pages, i, parts) for i in range(parts)
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
        with self._lock:
            if self._pool is not None:
                self._pool.stop()
                self._pool.join()
                self._pool = None
