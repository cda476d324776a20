"""The loader interface: a file's bytes -> pages of clean text, or an IngestError saying why."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from core.types import Page

# (pages done, pages in all) of a slow step inside one file: OCR.
PageProgress = Callable[[int, int], None]


class Loader(ABC):
    """Parses one kind of file. Subclasses implement :meth:`pages`."""

    kind: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]

    @abstractmethod
    def pages(self, data: bytes, filename: str, progress: PageProgress | None = None) -> list[Page]:
        """Return the file's pages, 1-based, with cleaned text."""

    def check(self, data: bytes, filename: str) -> None:
        """Refuse a file that cannot be parsed, cheaply: before it is queued, not after.

        Passing is no promise: a PDF can still turn out to hold only images.
        """
        self.pages(data, filename)
