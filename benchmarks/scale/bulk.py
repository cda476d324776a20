"""Loading the synthetic corpus fast: rows straight into SQLite, then the index opened on them.

Adding a million chunks one document at a time through ``KnowledgeIndex.add_document`` takes
most of an hour on two shared cores, and is not what the benchmark measures (adding one
document to the corpus is, and goes through ``add_document``). So the corpus is written the
way an index from an older kbqa looks: chunk rows with their tokens and vectors, in
transactions of 20,000 chunks. Opening ``KnowledgeIndex`` on it then builds what derives
from SQLite, by the code a real upgrade or a lost file runs: the lexical index from the stored
tokens, the FAISS index from the stored vectors (exact at once, IVF in the background).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.scale.corpus import SyntheticEmbedder, documents
from core.settings import DenseSettings
from core.types import Document
from index.knowledge import KnowledgeIndex
from index.lexical import tokenize
from index.store import Store

TRANSACTION_CHUNKS = 20_000


def load_rows(data_dir: Path, collection: str, first: int, count: int, n_chunks: int) -> None:
    """Write documents ``first`` .. ``first + count - 1`` into the store, nothing else."""
    KnowledgeIndex(data_dir, SyntheticEmbedder(), DenseSettings()).close()  # the index's meta
    store = Store(data_dir / "kbqa.sqlite3")
    try:
        next_id = store.next_chunk_id()
        per_transaction = max(1, TRANSACTION_CHUNKS // n_chunks)
        pending = list(range(first, first + count))
        checked = False
        while pending:
            batch, pending = pending[:per_transaction], pending[per_transaction:]
            with store.transaction() as db:
                store.ensure_collection(db, collection)
                for doc in documents(batch[0], len(batch), n_chunks):
                    # The pseudo-words are their own tokens; checked once against the tokenizer.
                    tokens = [c.text.split() for c in doc.chunks]
                    if not checked:
                        assert tokens == [tokenize(c.text) for c in doc.chunks]
                        checked = True
                    record = Document(
                        id=doc.parsed.id,
                        collection=collection,
                        filename=doc.parsed.filename,
                        kind=doc.parsed.kind,
                        size_bytes=doc.parsed.size_bytes,
                        pages=len(doc.parsed.pages),
                        chunks=n_chunks,
                        added_at=datetime.now(UTC),
                    )
                    ids = list(range(next_id, next_id + n_chunks))
                    next_id += n_chunks
                    store.insert_document(db, record)
                    store.insert_chunks(db, collection, doc.chunks, tokens, doc.vectors, ids)
                store.bump_generation(db, collection)
    finally:
        store.close()


def build(data_dir: Path, collection: str, first: int, count: int, n_chunks: int) -> dict:
    """Load the rows, then open the index on them and wait until it is whole; the seconds."""
    started = time.perf_counter()
    load_rows(data_dir, collection, first, count, n_chunks)
    rows_s = time.perf_counter() - started
    started = time.perf_counter()
    index = KnowledgeIndex(data_dir, SyntheticEmbedder(), DenseSettings())
    try:
        index.lexical_search(collection, "build", 1)  # builds the lexical index
        index.wait_for_rebuilds()
    finally:
        index.close()
    return {"rows_s": round(rows_s, 1), "index_s": round(time.perf_counter() - started, 1)}
