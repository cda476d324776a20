"""Documents of plain text chunks, added straight to an index backend (no parser)."""

from __future__ import annotations

import numpy as np

from core.types import Chunk, Page, ParsedDocument
from index.backend import IndexBackend


def add_text_document(
    index: IndexBackend,
    collection: str,
    doc_id: str,
    texts: list[str],
    vectors: np.ndarray | None = None,
) -> None:
    """Index ``texts`` as the one-page document ``doc_id``, a chunk each, with ``vectors``
    (default: the index's embedder's)."""
    parsed = ParsedDocument(
        id=doc_id,
        filename=f"{doc_id}.txt",
        kind="text",
        size_bytes=1,
        pages=[Page(number=1, text=" ".join(texts))],
    )
    chunks = [
        Chunk(
            document_id=doc_id,
            ordinal=i,
            text=t,
            page_start=1,
            page_end=1,
            char_start=0,
            char_end=len(t),
        )
        for i, t in enumerate(texts)
    ]
    if vectors is None:
        vectors = index.embedder.embed(texts)
    index.add_document(collection, parsed, chunks, vectors)
