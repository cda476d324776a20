"""SQLite store of collections, documents and chunks: the index's single source of truth.

Vectors are stored here too (float32 blobs), so the FAISS files are a cache that can always be
rebuilt: a crash between a commit here and a FAISS write loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.types import Box, Chunk, Document

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
    heading TEXT,
    boxes TEXT,
    tokens TEXT NOT NULL,
    embedding BLOB NOT NULL,
    FOREIGN KEY (collection, document_id) REFERENCES documents(collection, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(collection, document_id);
"""
_CHUNK_FIELDS = (
    "id", "document_id", "ordinal", "text", "page_start", "page_end", "char_start", "char_end",
    "section", "heading", "boxes",
)  # fmt: skip
# What search reads of a stored chunk, in SQL: Chunk.indexed_text.
_INDEXED_TEXT = (
    "CASE WHEN c.heading IS NULL OR substr(c.text, 1, length(c.heading)) = c.heading"
    " THEN c.text ELSE c.heading || char(10) || c.text END"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ChunkRecord(NamedTuple):
    """A stored chunk with where it lives."""

    collection: str
    filename: str
    chunk: Chunk


class Store:
    """Thin typed access to the SQLite file. Callers serialise writes (see KnowledgeIndex).

    Writes go through one connection (:meth:`transaction`); reads through one connection per
    thread (:attr:`db`), so searches in several threads read side by side (WAL mode: a reader
    sees the last commit and never waits for a writer).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._writer = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring an index written by an older version up to this schema."""
        columns = {row[1] for row in self._writer.execute("PRAGMA table_info(chunks)")}
        if "section" not in columns:  # Word and web page sections (added with those loaders)
            self._writer.execute("ALTER TABLE chunks ADD COLUMN section TEXT")
        if "boxes" not in columns:  # where each chunk is printed; NULL: indexed before
            self._writer.execute("ALTER TABLE chunks ADD COLUMN boxes TEXT")
        if "heading" not in columns:  # the heading a chunk is under; NULL: indexed before
            self._writer.execute("ALTER TABLE chunks ADD COLUMN heading TEXT")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        with self._connections_lock:
            self._connections.append(db)
        return db

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection for reading."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def _reader(self, db: sqlite3.Connection | None) -> sqlite3.Connection:
        return self.db if db is None else db

    def snapshot(self) -> sqlite3.Connection:
        """A new connection in a read transaction, pinned now: later commits stay invisible
        to it until it is closed (which the caller does)."""
        db = self._connect()
        with self._connections_lock:
            self._connections.remove(db)  # the caller's to close
        db.execute("BEGIN")
        db.execute("SELECT COUNT(*) FROM collections").fetchone()  # a read pins the snapshot
        return db

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: commits on success, rolls back on any exception."""
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            yield self._writer
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")

    # -- meta and collections -------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._writer.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

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
                " page_end, char_start, char_end, section, heading, boxes, tokens, embedding)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    chunk.heading,
                    boxes_json(chunk.boxes),
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
    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        """Chunk id -> its record, for the ids that exist."""
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
            fields = dict(zip(_CHUNK_FIELDS, values, strict=True))
            chunk = Chunk(**{**fields, "boxes": boxes_of(fields["boxes"])})
            out[int(values[0])] = ChunkRecord(collection, filename, chunk)
        return out

    def count(self, collection: str, db: sqlite3.Connection | None = None) -> int:
        """Chunks in a collection."""
        sql = "SELECT COUNT(*) FROM chunks WHERE collection = ?"
        return int(self._reader(db).execute(sql, (collection,)).fetchone()[0])

    def chunk_ids(self, collection: str, db: sqlite3.Connection | None = None) -> np.ndarray:
        """Every chunk id of a collection, sorted (from the index on (collection, document))."""
        rows = self._reader(db).execute("SELECT id FROM chunks WHERE collection = ?", (collection,))
        return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64))

    def iter_vectors(
        self, collection: str, dim: int, batch: int, db: sqlite3.Connection | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """A collection's (ids, vectors) in batches of ``batch`` rows: never all in memory."""
        cursor = self._reader(db).execute(
            # `+collection`: walk the table in id order. Through the (collection, document)
            # index, SQLite would sort every row, vectors and all, in a temporary B-tree.
            "SELECT id, embedding FROM chunks WHERE +collection = ? ORDER BY id",
            (collection,),
        )
        while rows := cursor.fetchmany(batch):
            yield _ids_and_vectors(rows, dim)

    def vectors_of(
        self, ids: np.ndarray, dim: int, db: sqlite3.Connection | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of the given chunk ids, in batches (ids that do not exist are skipped)."""
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            sql = f"SELECT id, embedding FROM chunks WHERE id IN ({marks})"
            rows = self._reader(db).execute(sql, part).fetchall()
            if rows:
                yield _ids_and_vectors(rows, dim)

    def sample_vectors(
        self, collection: str, dim: int, n: int, db: sqlite3.Connection | None = None
    ) -> np.ndarray:
        """Up to n vectors of a collection drawn at random (to train an IVF index on)."""
        ids = self.chunk_ids(collection, db)
        rng = np.random.default_rng(len(ids))
        chosen = np.sort(rng.choice(ids, size=min(n, len(ids)), replace=False))
        parts = [v for _, v in self.vectors_of(chosen, dim, db)]
        return np.concatenate(parts) if parts else np.empty((0, dim), dtype=np.float32)

    def retokenize(
        self,
        db: sqlite3.Connection,
        tokenize: Callable[[str], list[str]],
        after: int,
        limit: int,
    ) -> int | None:
        """Recompute the stored BM25 tokens of up to `limit` chunks with ids above `after`;
        returns the last id done, or None if there were none left."""
        rows = db.execute(
            f"SELECT c.id, {_INDEXED_TEXT} FROM chunks c WHERE c.id > ? ORDER BY c.id LIMIT ?",
            (after, limit),
        ).fetchall()
        db.executemany(
            "UPDATE chunks SET tokens = ? WHERE id = ?",
            ((" ".join(tokenize(text)), chunk_id) for chunk_id, text in rows),
        )
        return int(rows[-1][0]) if rows else None

    # -- re-embedding (index/reembed.py) -------------------------------------------------------
    def begin_reembed(self, target: str) -> None:
        """Make the staging table for new vectors of model ``target`` ("name dim"); one that
        holds another model's (a run for another model, interrupted) is emptied."""
        with self.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS reembed"
                " (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)"
            )
            if self.get_meta("reembed_target") != target:
                db.execute("DELETE FROM reembed")
                self.set_meta("reembed_target", target)

    def unstaged_texts(self, limit: int) -> list[tuple[int, str]]:
        """(id, indexed text) of up to `limit` chunks with no staged vector, in id order."""
        return self.db.execute(
            f"SELECT c.id, {_INDEXED_TEXT} FROM chunks c WHERE NOT EXISTS"
            " (SELECT 1 FROM reembed r WHERE r.id = c.id) ORDER BY c.id LIMIT ?",
            (limit,),
        ).fetchall()

    def stage_vectors(self, ids: list[int], vectors: np.ndarray) -> None:
        """Stage new vectors of chunks, in one transaction."""
        rows = (
            (i, np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for i, v in zip(ids, vectors, strict=True)
        )
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO reembed (id, embedding) VALUES (?, ?)", rows)

    def swap_staged(self, model: str, dim: int) -> bool:
        """Put the staged vectors in place of the chunks' and record their model, in one
        transaction; False (nothing changed) if a chunk has no staged vector yet."""
        with self.transaction() as db:
            missing = db.execute(
                "SELECT COUNT(*) FROM chunks c WHERE NOT EXISTS"
                " (SELECT 1 FROM reembed r WHERE r.id = c.id)"
            ).fetchone()[0]
            if missing:
                return False
            db.execute(
                "UPDATE chunks SET embedding ="
                " (SELECT r.embedding FROM reembed r WHERE r.id = chunks.id)"
            )
            self.set_meta("embedding_model", model)
            self.set_meta("embedding_dim", str(dim))
            db.execute("DELETE FROM meta WHERE key = 'reembed_target'")
            db.execute("DROP TABLE reembed")
        return True

    def token_rows(
        self, collection: str, first: int, last: int, limit: int
    ) -> list[tuple[int, str]]:
        """(id, space-joined tokens) of the collection's chunks with first <= id <= last, in
        id order, at most `limit`: what the lexical index is built and repaired from."""
        return self.db.execute(
            # `+collection`: walk the ids in order, not the (collection, document) index.
            "SELECT id, tokens FROM chunks WHERE +collection = ? AND id BETWEEN ? AND ?"
            " ORDER BY id LIMIT ?",
            (collection, first, last, limit),
        ).fetchall()


_BOX_FIELDS = ("page", "x0", "y0", "x1", "y1", "start", "end")


def boxes_json(boxes: list[Box]) -> str | None:
    """A chunk's boxes as stored: JSON, a list of values per box in :data:`_BOX_FIELDS`' order
    (half the bytes of named fields), or NULL for none."""
    if not boxes:
        return None
    rows = [[getattr(box, name) for name in _BOX_FIELDS] for box in boxes]
    return json.dumps(rows, separators=(",", ":"))


def boxes_of(stored: str | None) -> list[Box]:
    """A chunk's boxes from :func:`boxes_json` (NULL, in rows written before boxes, is none)."""
    if not stored:
        return []
    return [Box(**dict(zip(_BOX_FIELDS, row, strict=True))) for row in json.loads(stored)]


def _ids_and_vectors(rows: list[tuple[int, bytes]], dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, dim)
    return ids, vectors


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
