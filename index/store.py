"""SQLite store of collections, documents and chunks: the index's single source of truth.

Vectors are stored here too (float32 blobs), so the FAISS files are a cache that can always be
rebuilt: a crash between a commit here and a FAISS write loses nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.types import Chunk, Document

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
    id TEXT NOT NULL,
    filename TEXT NOT NULL,
    kind TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    document_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    page_start INTEGER NOT NULL,
    page_end INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    section TEXT,
    tokens TEXT NOT NULL,
    embedding BLOB NOT NULL,
    FOREIGN KEY (collection, document_id) REFERENCES documents(collection, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(collection, document_id);
"""
_CHUNK_FIELDS = (
    "id", "document_id", "ordinal", "text", "page_start", "page_end", "char_start", "char_end",
    "section",
)  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """Thin typed access to the SQLite file. Callers serialise writes (see KnowledgeIndex)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring an index written by an older version up to this schema."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(chunks)")}
        if "section" not in columns:  # Word and web page sections (added with those loaders)
            self.db.execute("ALTER TABLE chunks ADD COLUMN section TEXT")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: commits on success, rolls back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- meta and collections -------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def collections(self) -> dict[str, int]:
        """Collection name -> generation (bumped by every change to its chunks)."""
        return dict(self.db.execute("SELECT name, generation FROM collections ORDER BY name"))

    def ensure_collection(self, db: sqlite3.Connection, name: str) -> None:
        db.execute(
            "INSERT OR IGNORE INTO collections (name, created_at) VALUES (?, ?)", (name, _now())
        )

    def bump_generation(self, db: sqlite3.Connection, name: str) -> int:
        db.execute("UPDATE collections SET generation = generation + 1 WHERE name = ?", (name,))
        return int(
            db.execute("SELECT generation FROM collections WHERE name = ?", (name,)).fetchone()[0]
        )

    def delete_collection(self, db: sqlite3.Connection, name: str) -> None:
        db.execute("DELETE FROM chunks WHERE collection = ?", (name,))
        db.execute("DELETE FROM documents WHERE collection = ?", (name,))
        db.execute("DELETE FROM collections WHERE name = ?", (name,))

    def stats(self) -> dict[str, tuple[int, int]]:
        """Collection -> (documents, chunks), every collection included."""
        rows = self.db.execute(
            "SELECT c.name, COUNT(d.id), COALESCE(SUM(d.chunks), 0) FROM collections c"
            " LEFT JOIN documents d ON d.collection = c.name GROUP BY c.name ORDER BY c.name"
        )
        return {name: (int(docs), int(chunks)) for name, docs, chunks in rows}

    # -- documents ------------------------------------------------------------------------
    def document(self, collection: str, doc_id: str) -> Document | None:
        row = self.db.execute(
            "SELECT * FROM documents WHERE collection = ? AND id = ?", (collection, doc_id)
        ).fetchone()
        return _document(row) if row else None

    def documents(self, collection: str | None = None) -> list[Document]:
        sql, args = "SELECT * FROM documents", ()  # type: tuple[str, tuple[str, ...]]
        if collection is not None:
            sql, args = sql + " WHERE collection = ?", (collection,)
        return [_document(r) for r in self.db.execute(sql + " ORDER BY added_at, filename", args)]

    def insert_document(self, db: sqlite3.Connection, doc: Document) -> None:
        db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.collection,
                doc.id,
                doc.filename,
                doc.kind,
                doc.size_bytes,
                doc.pages,
                doc.chunks,
                doc.added_at.isoformat(timespec="seconds"),
            ),
        )

    def insert_chunks(
        self,
        db: sqlite3.Connection,
        collection: str,
        chunks: list[Chunk],
        tokens: list[list[str]],
        vectors: np.ndarray,
        ids: list[int],
    ) -> None:
        """Insert chunks under the given ids (from :meth:`next_chunk_id`)."""
        for chunk_id, chunk, toks, vec in zip(ids, chunks, tokens, vectors, strict=True):
            db.execute(
                "INSERT INTO chunks (id, collection, document_id, ordinal, text, page_start,"
                " page_end, char_start, char_end, section, tokens, embedding)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chunk_id,
                    collection,
                    chunk.document_id,
                    chunk.ordinal,
                    chunk.text,
                    chunk.page_start,
                    chunk.page_end,
                    chunk.char_start,
                    chunk.char_end,
                    chunk.section,
                    " ".join(toks),
                    np.ascontiguousarray(vec, dtype=np.float32).tobytes(),
                ),
            )

    def next_chunk_id(self) -> int:
        """The id the next chunk gets; ids are never reused (AUTOINCREMENT)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
        return int(row[0]) + 1 if row else 1

    def chunk_ids_of(self, collection: str, doc_id: str) -> list[int]:
        rows = self.db.execute(
            "SELECT id FROM chunks WHERE collection = ? AND document_id = ?", (collection, doc_id)
        )
        return [r[0] for r in rows]

    def delete_document(self, db: sqlite3.Connection, collection: str, doc_id: str) -> None:
        db.execute(
            "DELETE FROM chunks WHERE collection = ? AND document_id = ?", (collection, doc_id)
        )
        db.execute("DELETE FROM documents WHERE collection = ? AND id = ?", (collection, doc_id))

    # -- chunks -----------------------------------------------------------------------------
    def chunks(self, ids: Iterable[int]) -> dict[int, tuple[str, str, Chunk]]:
        """Chunk id -> (collection, filename, chunk) for the ids that exist."""
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        columns = ", ".join(f"c.{name}" for name in _CHUNK_FIELDS)
        rows = self.db.execute(
            f"SELECT c.collection, d.filename, {columns} FROM chunks c"
            " JOIN documents d ON d.collection = c.collection AND d.id = c.document_id"
            f" WHERE c.id IN ({marks})",
            ids,
        )
        out = {}
        for collection, filename, *values in rows:
            chunk = Chunk(**dict(zip(_CHUNK_FIELDS, values, strict=True)))
            out[int(values[0])] = (collection, filename, chunk)
        return out

    def vectors(self, collection: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) of a collection, to rebuild its FAISS index."""
        rows = self.db.execute(
            "SELECT id, embedding FROM chunks WHERE collection = ? ORDER BY id", (collection,)
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, dim)
        return ids, vecs

    def retokenize(self, db: sqlite3.Connection, tokenize: Callable[[str], list[str]]) -> int:
        """Recompute every chunk's stored BM25 tokens; returns how many chunks were updated."""
        rows = db.execute("SELECT id, text FROM chunks").fetchall()
        db.executemany(
            "UPDATE chunks SET tokens = ? WHERE id = ?",
            ((" ".join(tokenize(text)), chunk_id) for chunk_id, text in rows),
        )
        return len(rows)

    def tokens(self, collection: str) -> tuple[list[int], list[list[str]]]:
        rows = self.db.execute(
            "SELECT id, tokens FROM chunks WHERE collection = ? ORDER BY id", (collection,)
        ).fetchall()
        return [r[0] for r in rows], [r[1].split() for r in rows]


def _document(row: tuple) -> Document:
    collection, doc_id, filename, kind, size_bytes, pages, chunks, added_at = row
    return Document(
        id=doc_id,
        collection=collection,
        filename=filename,
        kind=kind,
        size_bytes=size_bytes,
        pages=pages,
        chunks=chunks,
        added_at=datetime.fromisoformat(added_at),
    )
