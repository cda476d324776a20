"""Originals of uploaded files, kept as uploaded, addressed by the sha256 of their bytes.

The same bytes are stored once, however many documents (in however many collections) use them;
``release`` drops a document's claim and deletes the bytes once no document uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Original:
    """One stored file: its bytes' sha256 (the document id), name and content type."""

    sha256: str
    filename: str
    content_type: str
    size_bytes: int


class OriginalStore(Protocol):
    """Uploaded files by content. ``owner`` is whoever uses them: ``"<collection>/<doc id>"``."""

    def put(self, data: bytes, filename: str, content_type: str, owner: str) -> Original:
        """Store ``data`` (once per content) and record ``owner`` as one of its users."""
        ...

    def get(self, sha256: str) -> tuple[Original, bytes]:
        """The original and its bytes, or ``core.errors.NotFoundError``."""
        ...

    def find(self, sha256: str) -> Original | None: ...

    def release(self, sha256: str, owner: str) -> None:
        """Forget ``owner``'s use; delete the bytes when nobody uses them any more."""
        ...

    def close(self) -> None: ...
