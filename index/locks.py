"""A shared/exclusive lock: searches read side by side, a writer's commit has the index alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SharedLock:
    """Many holders in shared mode (``with lock:``) or one in exclusive mode (``lock.exclusive()``).

    Both modes are reentrant in their thread, and a thread that holds the lock exclusively may
    also take it shared (its own reads during a change). Taking it exclusively while holding it
    shared would wait forever, so it raises instead. A waiting writer goes before readers that
    arrive after it, so a steady stream of searches cannot starve it. (The lock libraries on
    PyPI lack reentrancy, which the index's nested reads need.)
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None  # the thread that holds it exclusively
        self._writers_waiting = 0
        self._local = threading.local()  # this thread's depth in shared and exclusive mode

    def _depth(self, mode: str) -> int:
        return int(getattr(self._local, mode, 0))

    def __enter__(self) -> SharedLock:
        depth = self._depth("shared")
        if depth == 0 and self._writer != threading.get_ident():
            with self._cond:
                while self._writer is not None or self._writers_waiting:
                    self._cond.wait()
                self._readers += 1
            self._local.counted = True
        elif depth == 0:
            self._local.counted = False  # inside our own exclusive hold: nothing to count
        self._local.shared = depth + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.shared = depth = self._depth("shared") - 1
        if depth == 0 and self._local.counted:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock alone: wait for the current readers to finish, keep new ones out."""
        me = threading.get_ident()
        if self._writer == me:
            yield
            return
        if self._depth("shared"):
            raise RuntimeError("cannot take the index lock exclusively while reading under it")
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = me
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()
