"""The index in Milvus, shared by every kbqa process that points at the same server.

Two Milvus collections, named from ``index.milvus.prefix``:

- ``<prefix>_chunks``: a row per chunk with its text, place, vector (HNSW, inner product) and
  BM25 terms. BM25 is Milvus's own function over the ``tokens`` field, which holds kbqa's tokens
  space-joined (:func:`index.lexical.tokenize`: English words, CJK character bigrams), so the
  lexical ranking reads text the way the local index does. kbqa's collections are a partition
  key: one Milvus collection serves them all.
- ``<prefix>_catalog``: a row per kbqa collection, per document and for the embedding model.

A chunk's key is derived from its collection, document (the hash of the file's content) and
position, so a retried or resumed write overwrites rows instead of adding copies.

Milvus has no transaction over several rows. A document's chunks are written first and its
catalog row last, and a delete removes the catalog row first: every search checks the catalog,
so a document is seen whole or not at all, and chunks left by a write that an outage cut short
stay hidden until the same document is written again (which replaces them) or deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.errors import (
    IndexMismatchError,
    IndexUnavailableError,
    InvalidRequestError,
    NotFoundError,
)
from core.settings import IndexSettings, Settings
from core.types import Chunk, Document, ParsedDocument
from index.backend import check_chunks, check_collection_name, document_or_404, new_document
from index.embedders import Embedder
from index.lexical import TOKENIZER_VERSION, tokenize
from index.store import ChunkRecord, boxes_json, boxes_of

log = logging.getLogger(__name__)

_BATCH = 500  # rows per insert call
_PAGE = 1000  # rows per page when reading whole sets
_QUERY_MAX = 16_384  # the most rows one Milvus query returns
_MAX_VARCHAR = 65_535  # bytes: Milvus's longest VARCHAR
_FIELDS = [
    "kb", "document_id", "filename", "ordinal", "text", "page_start", "page_end", "char_start",
    "char_end", "section",
]  # fmt: skip
_OPTIONAL_FIELDS = ("boxes", "heading")  # added since the first schema
_META = "meta/index"
# A channel of its own (gRPC's shared subchannels keep the backoff of earlier failures), and
# reconnection tried every second at most while Milvus is away.
_RECONNECT = {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.min_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 1000,
}


def chunk_key(collection: str, doc_id: str, ordinal: int) -> int:
    """A chunk's primary key: 63 bits of the hash of where it belongs, the same at every write."""
    digest = hashlib.sha256(f"{collection}\0{doc_id}\0{ordinal}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _doc_key(collection: str, doc_id: str) -> str:
    return f"document/{collection}/{doc_id}"


def _quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value)


class MilvusIndex:
    """The index in a Milvus server (see the module's docstring)."""

    def __init__(self, settings: IndexSettings, embedder: Embedder) -> None:
        try:
            import grpc
            from pymilvus import MilvusClient, MilvusException
        except ImportError as exc:
            raise IndexUnavailableError(
                "the milvus index backend needs pymilvus: pip install 'kbqa[milvus]'"
            ) from exc
        self.settings = settings
        self.embedder = embedder
        self.uri = settings.milvus.uri
        self.timeout = settings.milvus.timeout_s
        self.chunks_name = f"{settings.milvus.prefix}_chunks"
        self.catalog_name = f"{settings.milvus.prefix}_catalog"
        self._errors: tuple[type[BaseException], ...] = (MilvusException, grpc.RpcError, OSError)
        with self._calls("connecting"):
            client = MilvusClient(
                uri=self.uri,
                token=settings.milvus.token or "",
                user=settings.milvus.user or "",
                password=settings.milvus.password or "",
                timeout=self.timeout,
                # Reconnect soon after Milvus is back: gRPC's own backoff grows to minutes.
                grpc_options=_RECONNECT,
            )
            names = (self.chunks_name, self.catalog_name)
            self.client: Any = _Reloading(client, names, self.timeout, MilvusException)
            self._create_collections()
            # Chunk collections made before boxes (or headings) were kept have no field for
            # them: their chunks are read and written without.
            described = self.client.describe_collection(self.chunks_name, timeout=self.timeout)
            has = {f["name"] for f in described["fields"]}
            self._fields = _FIELDS + [name for name in _OPTIONAL_FIELDS if name in has]
        self._check_meta()

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        """Milvus's failures (refused, timed out, unavailable) as one error that says where."""
        try:
            yield
        except self._errors as exc:
            reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise IndexUnavailableError(f"Milvus at {self.uri}: {what} failed: {reason}") from exc

    # -- the collections ---------------------------------------------------------------------
    def _create_collections(self) -> None:
        for name, schema, indexes in (
            (self.chunks_name, *self._chunk_schema()),
            (self.catalog_name, *self._catalog_schema()),
        ):
            if not self.client.has_collection(name, timeout=self.timeout):
                try:
                    self.client.create_collection(
                        name,
                        schema=schema,
                        index_params=indexes,
                        consistency_level="Strong",
                        timeout=self.timeout,
                    )
                    log.info("created the Milvus collection %s at %s", name, self.uri)
                except self._errors:
                    # Another kbqa process may have created it a moment ago.
                    if not self.client.has_collection(name, timeout=self.timeout):
                        raise
            self.client.load_collection(name, timeout=self.timeout)

    def _chunk_schema(self) -> tuple[Any, Any]:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("kb", DataType.VARCHAR, max_length=64, is_partition_key=True)
        schema.add_field("document_id", DataType.VARCHAR, max_length=256)
        schema.add_field("filename", DataType.VARCHAR, max_length=1024)
        for name in ("ordinal", "page_start", "page_end", "char_start", "char_end"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        schema.add_field("section", DataType.VARCHAR, max_length=1024, nullable=True)
        schema.add_field("heading", DataType.VARCHAR, max_length=1024, nullable=True)
        schema.add_field("boxes", DataType.VARCHAR, max_length=_MAX_VARCHAR, nullable=True)
        # kbqa's tokens, space-joined: the standard analyzer splits them back as they are.
        schema.add_field(
            "tokens",
            DataType.VARCHAR,
            max_length=_MAX_VARCHAR,
            enable_analyzer=True,
            analyzer_params={"type": "standard"},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.embedder.dim)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["tokens"],
                output_field_names=["sparse"],
            )
        )
        indexes = self.client.prepare_index_params()
        dense = self.settings.milvus.dense_index
        params = {"M": 16, "efConstruction": 200} if dense == "HNSW" else {}
        indexes.add_index("vector", index_type=dense, metric_type="IP", params=params)
        indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        return schema, indexes

    def _catalog_schema(self) -> tuple[Any, Any]:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, max_length=512, is_primary=True)
        schema.add_field("kind", DataType.VARCHAR, max_length=16)
        schema.add_field("kb", DataType.VARCHAR, max_length=64)
        schema.add_field("body", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field
        indexes = self.client.prepare_index_params()
        indexes.add_index("unused", index_type="FLAT", metric_type="L2")
        return schema, indexes

    def _catalog_row(self, key: str, kind: str, kb: str, body: str) -> dict[str, Any]:
        return {"key": key, "kind": kind, "kb": kb, "body": body, "unused": [0.0, 0.0]}

    def _check_meta(self) -> None:
        want = {"model": self.embedder.name, "dim": self.embedder.dim, "tokens": TOKENIZER_VERSION}
        with self._calls("reading the catalog"):
            rows = self.client.get(self.catalog_name, ids=[_META], output_fields=["body"])
            if not rows:
                row = self._catalog_row(_META, "meta", "", json.dumps(want))
                self.client.upsert(self.catalog_name, [row], timeout=self.timeout)
                return
        have = json.loads(rows[0]["body"])
        if (have["model"], have["dim"]) != (want["model"], want["dim"]):
            raise IndexMismatchError(
                f"the Milvus collections {self.chunks_name} and {self.catalog_name} at "
                f"{self.uri} were built with embedding model {have['model']!r} "
                f"({have['dim']}-d), not {self.embedder.name!r} ({self.embedder.dim}-d); use "
                "another index.milvus.prefix or re-ingest"
            )
        if have.get("tokens") != TOKENIZER_VERSION:
            raise IndexMismatchError(
                f"the Milvus collection {self.chunks_name} holds BM25 tokens of tokenizer "
                f"{have.get('tokens')!r}, not {TOKENIZER_VERSION!r}: re-ingest into another "
                "index.milvus.prefix (kbqa index export / import)"
            )

    def _all(self, name: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row that matches: one query, or page by page past what one query may return."""
        rows: list[dict[str, Any]] = list(
            self.client.query(name, filter=expr, output_fields=fields, limit=_QUERY_MAX)
        )
        if len(rows) < _QUERY_MAX:
            return rows
        rows = []
        iterator = self.client.query_iterator(
            name, batch_size=_PAGE, filter=expr, output_fields=fields, timeout=self.timeout
        )
        try:
            while page := iterator.next():
                rows.extend(page)
        finally:
            iterator.close()
        return rows

    # -- reading -----------------------------------------------------------------------------
    def reading(self) -> AbstractContextManager[None]:
        """Nothing to hold: each read sees every document whole or not at all (the catalog), but
        a document deleted between two reads is gone from the second."""
        return nullcontext()

    def collections(self) -> list[str]:
        with self._calls("listing collections"):
            rows = self._all(self.catalog_name, 'kind == "collection"', ["kb"])
        return sorted(row["kb"] for row in rows)

    def stats(self) -> dict[str, tuple[int, int]]:
        out = dict.fromkeys(self.collections(), (0, 0))
        for doc in self.documents():
            docs, chunks = out.get(doc.collection, (0, 0))
            out[doc.collection] = (docs + 1, chunks + doc.chunks)
        return out

    def documents(self, collection: str | None = None) -> list[Document]:
        expr = 'kind == "document"'
        if collection is not None:
            expr += f" and kb == {_quote(collection)}"
        with self._calls("listing documents"):
            rows = self._all(self.catalog_name, expr, ["body"])
        docs = [Document.model_validate_json(row["body"]) for row in rows]
        return sorted(docs, key=lambda d: (d.added_at, d.filename))

    def document(self, collection: str, doc_id: str) -> Document:
        return document_or_404(self, collection, doc_id)

    def find_document(self, collection: str, doc_id: str) -> Document | None:
        with self._calls("reading the catalog"):
            rows = self.client.get(
                self.catalog_name,
                ids=[_doc_key(collection, doc_id)],
                output_fields=["body"],
                timeout=self.timeout,
            )
        return Document.model_validate_json(rows[0]["body"]) if rows else None

    def _visible(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (collection, document) pairs whose document is in the catalog: whole."""
        if not pairs:
            return set()
        keys = [_doc_key(kb, doc) for kb, doc in pairs]
        rows = self.client.get(
            self.catalog_name, ids=keys, output_fields=["kb"], timeout=self.timeout
        )
        found = {row["key"] for row in rows}
        return {pair for pair, key in zip(pairs, keys, strict=True) if key in found}

    def _search(
        self, collection: str, data: Any, field: str, k: int, params: dict[str, Any]
    ) -> list[tuple[int, float]]:
        with self._calls("searching"):
            found = self.client.search(
                self.chunks_name,
                data=[data],
                anns_field=field,
                filter=f"kb == {_quote(collection)}",
                limit=k,
                output_fields=["document_id"],
                search_params={"params": params},
                timeout=self.timeout,
            )[0]
            visible = self._visible({(collection, hit["entity"]["document_id"]) for hit in found})
        return [
            (int(hit["id"]), float(hit["distance"]))
            for hit in found
            if (collection, hit["entity"]["document_id"]) in visible
        ]

    def dense_search(self, collection: str, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        vector = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        params = {"ef": max(self.settings.milvus.ef, k)}
        return self._search(collection, vector, "vector", k, params)

    def lexical_search(self, collection: str, query: str, k: int) -> list[tuple[int, float]]:
        tokens = tokenize(query)
        if not tokens:
            return []
        hits = self._search(collection, " ".join(tokens), "sparse", k, {})
        # milvus-lite returns BM25 scores negated (Milvus proper, positive): kbqa reports BM25.
        return [(cid, abs(score)) for cid, score in hits]

    def chunks(self, ids: list[int]) -> dict[int, ChunkRecord]:
        if not ids:
            return {}
        with self._calls("reading chunks"):
            rows = self.client.get(
                self.chunks_name, ids=list(ids), output_fields=self._fields, timeout=self.timeout
            )
            visible = self._visible({(row["kb"], row["document_id"]) for row in rows})
        return {
            int(row["id"]): ChunkRecord(row["kb"], row["filename"], _chunk(row))
            for row in rows
            if (row["kb"], row["document_id"]) in visible
        }

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        with self._calls("reading vectors"):
            rows = self.client.get(
                self.chunks_name, ids=list(ids), output_fields=["vector"], timeout=self.timeout
            )
        return {int(row["id"]): np.asarray(row["vector"], dtype=np.float32) for row in rows}

    def document_chunks(self, collection: str, doc_id: str) -> tuple[list[Chunk], np.ndarray]:
        expr = f"kb == {_quote(collection)} and document_id == {_quote(doc_id)}"
        with self._calls("reading chunks"):
            rows = self._all(self.chunks_name, expr, [*self._fields, "vector"])
        rows.sort(key=lambda row: row["ordinal"])
        vectors = np.asarray([row["vector"] for row in rows], dtype=np.float32)
        chunks = [_chunk(row).model_copy(update={"id": None}) for row in rows]
        return chunks, vectors.reshape(len(rows), self.embedder.dim)

    # -- writing -----------------------------------------------------------------------------
    def add_document(
        self, collection: str, parsed: ParsedDocument, chunks: list[Chunk], vectors: np.ndarray
    ) -> Document:
        """Add a parsed, chunked, embedded document; it shows once every chunk is in."""
        return self.import_document(new_document(collection, parsed, chunks), chunks, vectors)

    def import_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray) -> Document:
        collection = check_collection_name(doc.collection)
        check_chunks(doc, chunks, vectors)
        rows = [
            _chunk_row(collection, doc, chunk, vector, self._fields)
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        with self._calls(f"adding {doc.filename!r}"):
            self._ensure_collection(collection)
            # What an earlier, longer write of the same document may have left (hidden).
            self.client.delete(
                self.chunks_name,
                filter=f"kb == {_quote(collection)} and document_id == {_quote(doc.id)}"
                f" and ordinal >= {len(rows)}",
                timeout=self.timeout,
            )
            for start in range(0, len(rows), _BATCH):
                batch = rows[start : start + _BATCH]
                self.client.upsert(self.chunks_name, batch, timeout=self.timeout)
            # Last: the document shows now, whole.
            row = self._catalog_row(
                _doc_key(collection, doc.id), "document", collection, doc.model_dump_json()
            )
            self.client.upsert(self.catalog_name, [row], timeout=self.timeout)
        return doc

    def _ensure_collection(self, collection: str) -> None:
        key = f"collection/{collection}"
        if not self.client.get(self.catalog_name, ids=[key], timeout=self.timeout):
            body = json.dumps({"created_at": datetime.now(UTC).isoformat(timespec="seconds")})
            row = self._catalog_row(key, "collection", collection, body)
            self.client.upsert(self.catalog_name, [row], timeout=self.timeout)

    def delete_document(self, collection: str, doc_id: str) -> Document:
        """Remove a document: hidden at once (its catalog row goes first), then its chunks."""
        doc = self.document(collection, doc_id)
        with self._calls(f"deleting {doc.filename!r}"):
            self.client.delete(
                self.catalog_name, ids=[_doc_key(collection, doc_id)], timeout=self.timeout
            )
            self.client.delete(
                self.chunks_name,
                filter=f"kb == {_quote(collection)} and document_id == {_quote(doc_id)}",
                timeout=self.timeout,
            )
        return doc

    def delete_collection(self, collection: str) -> list[Document]:
        if collection not in self.collections():
            raise NotFoundError.said("errors.no_collection", collection=repr(collection))
        removed = self.documents(collection)
        kb = _quote(collection)
        with self._calls(f"deleting collection {collection!r}"):
            expr = f'kind == "document" and kb == {kb}'
            self.client.delete(self.catalog_name, filter=expr, timeout=self.timeout)
            self.client.delete(self.chunks_name, filter=f"kb == {kb}", timeout=self.timeout)
            self.client.delete(
                self.catalog_name, ids=[f"collection/{collection}"], timeout=self.timeout
            )
        return removed

    def verify(self) -> list[str]:
        """Documents whose chunks are not all there, and hidden chunks of no document (a write
        or delete an outage cut short, or one in flight in another process)."""
        problems = []
        for name in self.collections():
            expected = {doc.id: doc.chunks for doc in self.documents(name)}
            with self._calls("reading chunks"):
                rows = self._all(self.chunks_name, f"kb == {_quote(name)}", ["document_id"])
            counts: dict[str, int] = {}
            for row in rows:
                counts[row["document_id"]] = counts.get(row["document_id"], 0) + 1
            for doc_id, want in expected.items():
                if counts.get(doc_id, 0) != want:
                    problems.append(
                        f"{name}: document {doc_id} has {counts.get(doc_id, 0)} chunks, not {want}"
                    )
            hidden = sum(n for doc_id, n in counts.items() if doc_id not in expected)
            if hidden:
                problems.append(f"{name}: {hidden} chunks of documents not in the catalog")
        return problems

    def problem(self) -> str | None:
        """Why Milvus cannot serve now, asked with a cheap call (what /health reports)."""
        try:
            with self._calls("checking"):
                self.client.has_collection(self.chunks_name, timeout=min(self.timeout, 2))
        except IndexUnavailableError as exc:
            return str(exc)
        return None

    def flush(self, force: bool = False) -> None:
        """Nothing to do: Milvus keeps what it acknowledged."""

    def close(self) -> None:
        self.client.close()


class _Reloading:
    """The Milvus client, loading kbqa's collections again when a read finds them released (a
    restarted milvus-lite forgets what was loaded) and trying once more."""

    _READS = frozenset({"search", "query", "get", "query_iterator"})

    def __init__(
        self, client: Any, names: tuple[str, ...], timeout: float, error: type[Exception]
    ) -> None:
        self._client, self._names, self._timeout, self._error = client, names, timeout, error

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in self._READS:
            return method

        def read(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except self._error as exc:
                if "released" not in str(exc) and "not loaded" not in str(exc):
                    raise
                for collection in self._names:
                    self._client.load_collection(collection, timeout=self._timeout)
                return method(*args, **kwargs)

        return read


def _chunk_row(
    collection: str, doc: Document, chunk: Chunk, vector: np.ndarray, fields: Sequence[str]
) -> dict[str, Any]:
    tokens = " ".join(tokenize(chunk.indexed_text))
    for name, text in (("text", chunk.text), ("BM25 tokens", tokens)):
        if len(text.encode()) > _MAX_VARCHAR:
            raise InvalidRequestError(
                f"chunk {chunk.ordinal} of {doc.filename!r}: its {name} take more than "
                f"{_MAX_VARCHAR} bytes, Milvus's limit; use a smaller ingest.chunk_size"
            )
    row: dict[str, Any] = {
        "id": chunk_key(collection, doc.id, chunk.ordinal),
        "kb": collection,
        "document_id": doc.id,
        "filename": doc.filename,
        "ordinal": chunk.ordinal,
        "text": chunk.text,
        "page_start": chunk.page_start,
        "page_end": chunk.page_end,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "section": chunk.section,
        "tokens": tokens,
        "vector": np.asarray(vector, dtype=np.float32).tolist(),
    }
    if "heading" in fields:
        row["heading"] = chunk.heading
    if "boxes" in fields:
        stored = boxes_json(chunk.boxes)
        # Past Milvus's longest string (a chunk over hundreds of lines) the boxes are left out.
        row["boxes"] = stored if stored is None or len(stored) <= _MAX_VARCHAR else None
    return row


def _chunk(row: dict[str, Any]) -> Chunk:
    return Chunk(
        id=int(row["id"]),
        document_id=row["document_id"],
        ordinal=int(row["ordinal"]),
        text=row["text"],
        page_start=int(row["page_start"]),
        page_end=int(row["page_end"]),
        char_start=int(row["char_start"]),
        char_end=int(row["char_end"]),
        section=row.get("section"),
        heading=row.get("heading"),
        boxes=boxes_of(row.get("boxes")),
    )


def open_milvus(settings: Settings, embedder: Embedder) -> MilvusIndex:
    return MilvusIndex(settings.index, embedder)
