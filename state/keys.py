"""API keys made at run time. Only a key's sha256 is stored: the keys are 256 random bits, so
a slow password hash would add nothing but a delay on every request (nobody can guess such a
key from its hash), and a plain hash can be looked up by index on every node."""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from core.errors import NotFoundError
from core.records import ApiKey, NewApiKey
from state.sqlite import open_sqlite

KEY_PREFIX = "kbqa_"
SHOWN_CHARS = 12  # of a key, in listings: "kbqa_AbCdEfG"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def make_key(name: str, write: bool, collections: list[str] | None) -> NewApiKey:
    """A new random key and its record (not stored yet)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(
        id=uuid.uuid4().hex,
        name=name,
        prefix=key[:SHOWN_CHARS],
        write=write,
        collections=collections,
        key=key,
    )


class KeyStore(Protocol):
    def add(self, key: NewApiKey) -> ApiKey:
        """Store the key's record and hash (never the key itself)."""
        ...

    def list(self) -> list[ApiKey]:
        """Every key made, revoked ones too, newest first."""
        ...

    def find(self, key: str) -> ApiKey | None:
        """The key's record if it was made here and is not revoked."""
        ...

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (revoking twice is no error); ``NotFoundError`` if unknown."""
        ...

    def close(self) -> None: ...


def record(key: NewApiKey) -> ApiKey:
    return ApiKey.model_validate(key.model_dump(exclude={"key"}))


LOCAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, record TEXT NOT NULL
);
"""


class LocalKeys:
    """In ``keys.sqlite3`` under data_dir: valid on this node only."""

    def __init__(self, path: Path) -> None:
        self._db = open_sqlite(path, LOCAL_SCHEMA)
        self._lock = threading.Lock()

    def add(self, key: NewApiKey) -> ApiKey:
        stored = record(key)
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?)",
                (key.id, key_hash(key.key), key.created_at.isoformat(), stored.model_dump_json()),
            )
        return stored

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM api_keys ORDER BY created_at DESC"
            ).fetchall()
        return [ApiKey.model_validate_json(row[0]) for row in rows]

    def find(self, key: str) -> ApiKey | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM api_keys WHERE hash = ?", (key_hash(key),)
            ).fetchone()
        found = ApiKey.model_validate_json(row[0]) if row else None
        return found if found is not None and found.revoked_at is None else None

    def revoke(self, key_id: str) -> ApiKey:
        with self._lock:
            row = self._db.execute("SELECT record FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no API key {key_id!r}")
            key = ApiKey.model_validate_json(row[0])
            key.revoked_at = key.revoked_at or datetime.now(UTC)
            self._db.execute(
                "UPDATE api_keys SET record = ? WHERE id = ?", (key.model_dump_json(), key_id)
            )
        return key

    def close(self) -> None:
        self._db.close()
