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

from pebble import ProcessExpired, ProcessPool

from core.errors import IngestError
from core.types import Page
from ingest.loaders import loader_for


def _limit_memory(limit_mb: int) -> None:
    limit = limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run(action: str, data: bytes, filename: str, password: str | None, max_pages: int) -> object:
    loader = loader_for(filename, password=password, max_pages=max_pages)
    if action == "check":
        loader.check(data, filename)
        return None
    return loader.pages(data, filename)


class IsolatedParser:
    """One spawned worker, reused from file to file and replaced when a file kills it.

    It reads PDFs as :class:`PdfLoader` does (same ``pages`` and ``check``), in the worker.
    """

    def __init__(
        self,
        timeout_s: float,
        memory_mb: int,
        password: str | None = None,
        max_pages: int = 5000,
    ) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.password = password
        self.max_pages = max_pages
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ProcessPool:
        with self._lock:
            if self._pool is None or not self._pool.active:
                # spawn, not fork: the parent has threads (torch, the web server) to not copy.
                self._pool = ProcessPool(
                    max_workers=1,
                    initializer=_limit_memory,
                    initargs=(self.memory_mb,),
                    context=multiprocessing.get_context("spawn"),
                )
            return self._pool

    def pages(self, data: bytes, filename: str) -> list[Page]:
        return self._call("pages", data, filename)  # type: ignore[return-value]

    def check(self, data: bytes, filename: str) -> None:
        self._call("check", data, filename)

    def _call(self, action: str, data: bytes, filename: str) -> object:
        args = (data, filename, self.password, self.max_pages)
        try:
            return self._attempt(action, args)
        except ProcessExpired:
            # A worker can die for reasons of its own (the kernel, a signal): a file is refused
            # only when it kills a fresh worker too.
            try:
                return self._attempt(action, args)
            except ProcessExpired as exc:  # C code that aborted (often: memory) or crashed
                raise IngestError(
                    filename,
                    "too_large",
                    f"made the parser fail twice (exit code {exc.exitcode}): it needs more "
                    f"than {self.memory_mb} MiB to parse, or is malformed",
                ) from exc

    def _attempt(self, action: str, args: tuple[object, ...]) -> object:
        filename = str(args[1])
        future = self._get_pool().schedule(_run, args=(action, *args), timeout=self.timeout_s)
        try:
            return future.result()
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

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.stop()
                self._pool.join()
                self._pool = None
