"""Originals of uploaded files, kept as uploaded, addressed by the sha256 of their bytes.

The same bytes are stored once, however many documents (in however many collections) use them;
``release`` drops a document's claim and deletes the bytes once no document uses them.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.errors import NotFoundError
from core.files import write_atomically


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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS originals (
    sha256 TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS owners (
    sha256 TEXT NOT NULL REFERENCES originals(sha256) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    PRIMARY KEY (sha256, owner)
);
"""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LocalOriginals:
    """Originals as files under ``root``, ``ab/cd/abcd…`` by sha256, written atomically (temp,
    fsync, rename); who owns each, in ``root/owners.sqlite3``.

    A file is written before its row and deleted after it, so a crash between the two leaves
    at worst a file nobody owns (never an owner without its file).
    """

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._lock = threading.Lock()  # the API's threads and the ingestion worker
        self._db = sqlite3.connect(
            root / "owners.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def path(self, sha256: str) -> Path:
        """Where the bytes of ``sha256`` are kept (whether or not they are)."""
        if not _SHA256.match(sha256):
            raise NotFoundError(f"no original {sha256!r}: not a sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes, filename: str, content_type: str, owner: str) -> Original:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path(sha256)
        with self._lock:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(path, data)
            with self._transaction() as db:
                db.execute(
                    "INSERT OR IGNORE INTO originals VALUES (?, ?, ?, ?)",
                    (sha256, filename, content_type, len(data)),
                )
                db.execute("INSERT OR IGNORE INTO owners VALUES (?, ?)", (sha256, owner))
        found = self.find(sha256)
        assert found is not None, "written just now"
        return found

    def find(self, sha256: str) -> Original | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sha256, filename, content_type, size_bytes FROM originals WHERE sha256 = ?",
                (sha256,),
            ).fetchone()
        return Original(*row) if row else None

    def get(self, sha256: str) -> tuple[Original, bytes]:
        path = self.path(sha256)
        original = self.find(sha256)
        if original is None:
            raise NotFoundError(f"no original {sha256!r} is kept")
        try:
            return original, path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"the original {sha256!r} is missing from {self.root}") from exc

    def owners(self, sha256: str) -> list[str]:
        """Who uses the original ``sha256`` (``"<collection>/<doc id>"``), sorted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT owner FROM owners WHERE sha256 = ? ORDER BY owner", (sha256,)
            ).fetchall()
        return [row[0] for row in rows]

    def release(self, sha256: str, owner: str) -> None:
        with self._lock:
            with self._transaction() as db:
                db.execute("DELETE FROM owners WHERE sha256 = ? AND owner = ?", (sha256, owner))
                (left,) = db.execute(
                    "SELECT COUNT(*) FROM owners WHERE sha256 = ?", (sha256,)
                ).fetchone()
                if not left:
                    db.execute("DELETE FROM originals WHERE sha256 = ?", (sha256,))
            if not left and _SHA256.match(sha256):
                self.path(sha256).unlink(missing_ok=True)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing (the caller holds the lock)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def owner_of(collection: str, document_id: str) -> str:
    """How a document is named as the owner of its original."""
    return f"{collection}/{document_id}"
