"""Opening the local backend's SQLite files: one connection per store, WAL, shared by threads
under the store's own lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_sqlite(path: Path, schema: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """``path`` opened in autocommit mode (transactions are explicit) with ``schema`` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(schema)
    return db
