"""``OriginalStore`` (``state.originals``) in PostgreSQL: the bytes of each original once,
in the database that every node shares, so a file uploaded to one node downloads from any."""

from __future__ import annotations

import hashlib

from core.errors import NotFoundError
from state.originals import Original
from state.postgres import Database


class PostgresOriginals:
    """Rows of ``originals`` (one per content) and ``original_owners`` (one per user of it).

    ``put`` and ``release`` of the same content are serialized by the lock on its row, so a
    release that drops the last owner cannot delete bytes a concurrent put has just claimed.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, data: bytes, filename: str, content_type: str, owner: str) -> Original:
        sha256 = hashlib.sha256(data).hexdigest()
        with self._db.connection() as conn, conn.transaction():
            # DO UPDATE, not DO NOTHING: it locks the row that is there already.
            row = conn.execute(
                "INSERT INTO originals VALUES (%s, %s, %s, %s, %b)"  # %b: bytes as binary
                " ON CONFLICT (sha256) DO UPDATE SET sha256 = EXCLUDED.sha256"
                " RETURNING filename, content_type, size_bytes",
                (sha256, filename, content_type, len(data), data),
            ).fetchone()
            conn.execute(
                "INSERT INTO original_owners VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (sha256, owner),
            )
        assert row is not None
        return Original(sha256, row[0], row[1], int(row[2]))

    def get(self, sha256: str) -> tuple[Original, bytes]:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT filename, content_type, size_bytes, data FROM originals WHERE sha256 = %s",
                (sha256,),
                binary=True,
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no original file {sha256!r}")
        return Original(sha256, row[0], row[1], int(row[2])), bytes(row[3])

    def find(self, sha256: str) -> Original | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT filename, content_type, size_bytes FROM originals WHERE sha256 = %s",
                (sha256,),
            ).fetchone()
        return Original(sha256, row[0], row[1], int(row[2])) if row else None

    def release(self, sha256: str, owner: str) -> None:
        with self._db.connection() as conn, conn.transaction():
            locked = conn.execute(
                "SELECT 1 FROM originals WHERE sha256 = %s FOR UPDATE", (sha256,)
            ).fetchone()
            if locked is None:
                return
            conn.execute(
                "DELETE FROM original_owners WHERE sha256 = %s AND owner = %s", (sha256, owner)
            )
            conn.execute(
                "DELETE FROM originals WHERE sha256 = %s AND NOT EXISTS"
                " (SELECT 1 FROM original_owners WHERE sha256 = %s)",
                (sha256, sha256),
            )

    def close(self) -> None:
        pass  # the pool is the backend's
