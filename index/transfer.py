"""An index to a file and back: how a local index moves into Milvus (or anywhere else).

The file is gzipped JSON lines: a header naming the embedding model, then a line per document
with its record, its chunks and their vectors. Nothing is embedded again, so the copy ranks as
the original does. Import skips the documents the target holds already, so an interrupted import
run again carries on where it stopped.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import IndexMismatchError, InvalidRequestError
from core.types import Chunk, Document
from index.backend import IndexBackend, iter_documents

Progress = Callable[[Document], None]  # told of each document moved
FORMAT = "kbqa-index"
VERSION = 1


@dataclass(frozen=True)
class Moved:
    """What an export or import did."""

    documents: int
    chunks: int
    skipped: int = 0  # documents the target held already (import)


def export_index(
    index: IndexBackend, path: Path, progress: Callable[[Document], None] | None = None
) -> Moved:
    """Write every document of ``index`` with its chunks and vectors to ``path``."""
    documents = chunks = 0
    header = {"format": FORMAT, "version": VERSION, "model": index.embedder.name}
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps({**header, "dim": index.embedder.dim}) + "\n")
        for doc, doc_chunks, vectors in iter_documents(index):
            line = {
                "document": doc.model_dump(mode="json"),
                "chunks": [c.model_dump(mode="json", exclude={"id"}) for c in doc_chunks],
                "vectors": base64.b64encode(np.asarray(vectors, "<f4").tobytes()).decode(),
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            documents, chunks = documents + 1, chunks + len(doc_chunks)
            if progress is not None:
                progress(doc)
    return Moved(documents, chunks)


def import_index(
    index: IndexBackend, path: Path, progress: Callable[[Document], None] | None = None
) -> Moved:
    """Add the documents of an exported file to ``index``, skipping those it holds already."""
    documents = chunks = skipped = 0
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        header = _header(lines.readline(), path)
        _check_model(header, index, path)
        for number, line in enumerate(lines, start=2):
            doc, doc_chunks, vectors = _document(line, header["dim"], path, number)
            if index.find_document(doc.collection, doc.id) is not None:
                skipped += 1
                continue
            index.import_document(doc, doc_chunks, vectors)
            documents, chunks = documents + 1, chunks + len(doc_chunks)
            if progress is not None:
                progress(doc)
    return Moved(documents, chunks, skipped)


def _header(line: str, path: Path) -> dict:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InvalidRequestError(f"{path} is not a kbqa index export (no {FORMAT!r} header)")
    if header.get("version") != VERSION:
        raise InvalidRequestError(
            f"{path} is a kbqa index export of version {header.get('version')!r}; this kbqa "
            f"reads version {VERSION}"
        )
    return header


def _check_model(header: dict, index: IndexBackend, path: Path) -> None:
    if (header["model"], header["dim"]) != (index.embedder.name, index.embedder.dim):
        raise IndexMismatchError(
            f"{path} holds vectors of embedding model {header['model']!r} ({header['dim']}-d), "
            f"not {index.embedder.name!r} ({index.embedder.dim}-d) that this index uses"
        )


def _document(
    line: str, dim: int, path: Path, number: int
) -> tuple[Document, list[Chunk], np.ndarray]:
    try:
        item = json.loads(line)
        doc = Document.model_validate(item["document"])
        chunks = [Chunk.model_validate(c) for c in item["chunks"]]
        vectors = np.frombuffer(base64.b64decode(item["vectors"]), dtype="<f4")
        return doc, chunks, vectors.reshape(len(chunks), dim)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRequestError(
            f"{path}, line {number}: not a document of an export ({exc})"
        ) from exc
