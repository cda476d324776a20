"""Re-embedding a local index into another embedding model, from the chunk texts it stores.

`kbqa reindex` runs it: no file is parsed again. New vectors are staged beside the old ones, a
batch per transaction (an interrupted run resumes where it stopped, and searches meanwhile read
the old vectors), then one transaction puts them all in place and records the new model. So the
index holds one model's vectors at every moment, whenever the run is stopped. The FAISS files are
derived from the stored vectors and record the model they were built with: they are rebuilt on
the next open. BM25 is untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from index.embedders import Embedder
from index.store import Store

log = logging.getLogger(__name__)
BATCH = 256  # chunks embedded and staged per transaction


@dataclass(frozen=True)
class Reembedded:
    """What a re-embedding did."""

    old_model: str | None  # None: the index was empty, or already of the new model
    new_model: str
    chunks: int  # chunks embedded by this run (an interrupted earlier one may have done more)


def reembed(
    data_dir: Path,
    embedder: Embedder,
    progress: Callable[[int, int], None] | None = None,
    batch: int = BATCH,
) -> Reembedded:
    """Re-embed every chunk of the index in ``data_dir`` with ``embedder``.

    Args:
        data_dir: the local index's folder (``KBQA_DATA_DIR``).
        embedder: the model to embed with.
        progress: called with (chunks done, chunks in all) after each batch.
        batch: chunks per transaction.
    """
    store = Store(data_dir / "kbqa.sqlite3")
    try:
        old = store.get_meta("embedding_model")
        if old == embedder.name and store.get_meta("embedding_dim") == str(embedder.dim):
            return Reembedded(None, embedder.name, 0)
        store.begin_reembed(f"{embedder.name} {embedder.dim}")
        total = int(store.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
        done = 0
        while True:
            while rows := store.unstaged_texts(batch):
                store.stage_vectors([r[0] for r in rows], embedder.embed([r[1] for r in rows]))
                done += len(rows)
                if progress:
                    progress(done, total)
            # Before the swap: a crash after it must find no file of the old vectors (open
            # refuses them anyway, by the model they record: this is the belt to those braces).
            _remove_vector_files(data_dir)
            if store.swap_staged(embedder.name, embedder.dim):
                break  # else chunks were added meanwhile: embed them too
        log.info("re-embedded %d chunks from %r into %r", done, old, embedder.name)
        return Reembedded(old, embedder.name, done)
    finally:
        store.close()


def _remove_vector_files(data_dir: Path) -> None:
    """The FAISS files of the old vectors: of no use now (open would refuse them anyway)."""
    for path in (data_dir / "vectors").glob("*.faiss*"):
        path.unlink(missing_ok=True)
    for path in (data_dir / "vectors").glob("*.json"):
        path.unlink(missing_ok=True)
