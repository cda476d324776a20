"""The PostgreSQL connection that the shared state's stores use: a pool, errors translated to
``StateUnavailableError`` (503), and the schema's migrations.

Migrations are the numbered SQL files in ``state/migrations`` (``0001_initial.sql``, ...),
each applied once, in its own transaction, and recorded in ``kbqa_migrations``. Nodes that
start together take a PostgreSQL advisory lock first, so exactly one applies them and the
others find them done. This rather than Alembic: the schema is a handful of tables of plain
SQL, and Alembic would bring SQLAlchemy, an env.py and a command of its own for what
twenty lines here do; the files are the same plain SQL a DBA reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Iterator
from importlib import resources

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from core.errors import StateUnavailableError
from core.settings import StateSettings

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x6B627161  # "kbqa": the advisory lock's key
# While the server is known to be away, a call waits this long for a connection, not the whole
# timeout_s: an outage answers 503 at once, and the first call after it heals the pool.
DOWN_WAIT_S = 0.5
MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS kbqa_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    sha256 text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of each migration shipped, in order."""
    folder = resources.files("state") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def _sha256(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


def _check_applied(
    applied: dict[int, tuple[str, str]], shipped: list[tuple[int, str, str]]
) -> None:
    """Refuse a database whose applied migrations differ from the files shipped (one was edited
    after it ran); warn of versions only a newer kbqa knows (a rolling upgrade)."""
    for version, name, sql in shipped:
        if version in applied and applied[version][1] != _sha256(sql):
            raise StateUnavailableError(
                f"the state migration {name} differs from the one applied to the database as "
                f"{applied[version][0]}: a migration must not change once applied; add a new one"
            )
    newer = sorted(set(applied) - {version for version, _, _ in shipped})
    if newer:
        log.warning("the state database has migrations %s that this kbqa does not know", newer)


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    head, _, tail = url.rpartition("@")
    return f"{head.split(':', 2)[0]}://...@{tail}" if head else url


class Database:
    """A connection pool on ``settings.url``; the schema is brought up to date on first use,
    so a node starts (and answers 503) while PostgreSQL is still away."""

    def __init__(self, settings: StateSettings) -> None:
        assert settings.url is not None
        self.where = _redacted(settings.url)
        self._timeout_s = settings.timeout_s
        self._pool: ConnectionPool = ConnectionPool(
            settings.url,
            min_size=1,
            max_size=settings.pool_size,
            timeout=settings.timeout_s,
            open=False,
            check=ConnectionPool.check_connection,  # a connection a restart broke is replaced
            # The pool's reconnection backs off exponentially without a cap: after a long
            # outage its next try could be minutes away. Abandoned soon instead, a try is made
            # again at the next request, so a node heals at its first call after the server.
            reconnect_timeout=2 * settings.timeout_s,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(settings.timeout_s))},
            name="kbqa-state",
        )
        self._pool.open(wait=False)
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._down = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection (autocommit: use ``conn.transaction()`` for several writes);
        an unreachable or failing server becomes ``StateUnavailableError``."""
        wait_s = min(DOWN_WAIT_S, self._timeout_s) if self._down else self._timeout_s
        try:
            with self._pool.connection(timeout=wait_s) as conn:
                self._down = False
                if not self._migrated:
                    self._migrate(conn)
                yield conn
        except PoolTimeout as exc:
            self._down = True
            raise StateUnavailableError(
                f"the state database at {self.where} is unreachable "
                f"(no connection within {wait_s:g}s)"
            ) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._down = True
            raise StateUnavailableError(
                f"the state database at {self.where} failed: {str(exc).strip()}"
            ) from exc

    def _migrate(self, conn: psycopg.Connection) -> None:
        with self._migrate_lock:
            if self._migrated:
                return
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                self._apply(conn)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
            self._migrated = True

    def _apply(self, conn: psycopg.Connection) -> None:
        """Apply the migrations not applied yet, each in its own transaction (under the lock)."""
        conn.execute(MIGRATIONS_TABLE)
        rows = conn.execute("SELECT version, name, sha256 FROM kbqa_migrations").fetchall()
        applied = {version: (name, sha) for version, name, sha in rows}
        shipped = migrations()
        _check_applied(applied, shipped)
        for version, name, sql in shipped:
            if version in applied:
                continue
            log.info("applying the state migration %s", name)
            with conn.transaction():
                conn.execute(sql.encode())  # bytes: several statements, no parameters
                conn.execute(
                    "INSERT INTO kbqa_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                    (version, name, _sha256(sql)),
                )

    def problem(self) -> str | None:
        """Why the database cannot serve now, or None: one round trip."""
        try:
            with self.connection() as conn:
                conn.execute("SELECT 1")
        except StateUnavailableError as exc:
            return str(exc)
        return None

    def close(self) -> None:
        self._pool.close()
