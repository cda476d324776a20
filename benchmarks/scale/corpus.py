"""A synthetic corpus for the scale benchmark: chunks of text with vectors, no embedder.

Text: 120 pseudo-words a chunk, drawn from a 50,000-word vocabulary with Zipf frequencies
(s = 1.1, as in English), so that a lexical index sees common and rare terms as it would in
real text. Vectors (384-d, MiniLM's size) have the structure that sentence embeddings have at
two levels: each document belongs to one of 1,000 topics and each chunk is
``topic + 0.8 * document + 1.0 * noise`` (Gaussian, normalised), which puts a chunk at cosine
about 0.6 of its document's other chunks, 0.4 of its topic's and 0 of the rest. A query is a
stored chunk's vector plus noise (cosine about 0.85 to it) and six of its words. Recall of an
approximate index depends on this structure: real embeddings may be harder or easier.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from core.types import Chunk, Page, ParsedDocument
from index.embedders import Embedder

DIM = 384
TOPICS = 1000
VOCABULARY = 50_000
WORDS_PER_CHUNK = 120
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]  # 70 syllables


def _word(rank: int) -> str:
    """A pseudo-word per rank, letters only (the tokenizer keeps it whole)."""
    out = ""
    rank += 70  # at least two syllables
    while rank:
        rank, digit = divmod(rank, len(_SYLLABLES))
        out += _SYLLABLES[digit]
    return out


WORDS = np.array([_word(i) for i in range(VOCABULARY)])
_ZIPF = 1.0 / np.arange(1, VOCABULARY + 1) ** 1.1
_ZIPF /= _ZIPF.sum()


def _topics() -> np.ndarray:
    return np.random.default_rng(12345).standard_normal((TOPICS, DIM)).astype(np.float32)


_TOPIC_VECTORS = _topics()


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class SyntheticDocument:
    parsed: ParsedDocument
    chunks: list[Chunk]
    vectors: np.ndarray


def document(number: int, n_chunks: int, prefix: str = "doc") -> SyntheticDocument:
    """Document ``number`` of the corpus (the same every time: seeded by its number)."""
    rng = np.random.default_rng(number)
    topic = _TOPIC_VECTORS[number % TOPICS]
    base = topic + 0.8 * rng.standard_normal(DIM).astype(np.float32)
    vectors = _unit(base + rng.standard_normal((n_chunks, DIM)).astype(np.float32))
    words = WORDS[rng.choice(VOCABULARY, size=(n_chunks, WORDS_PER_CHUNK), p=_ZIPF)]
    texts = [" ".join(row) for row in words]
    doc_id = f"{prefix}{number:08d}"
    chunks = []
    offset = 0
    for i, text in enumerate(texts):
        chunks.append(
            Chunk(
                document_id=doc_id,
                ordinal=i,
                text=text,
                page_start=i // 4 + 1,
                page_end=i // 4 + 1,
                char_start=offset,
                char_end=offset + len(text),
            )
        )
        offset += len(text) + 1
    pages = [Page(number=p + 1, text="") for p in range((n_chunks + 3) // 4)]
    parsed = ParsedDocument(
        id=doc_id, filename=f"{doc_id}.pdf", kind="pdf", size_bytes=offset, pages=pages
    )
    return SyntheticDocument(parsed, chunks, vectors)


def documents(first: int, count: int, n_chunks: int) -> Iterator[SyntheticDocument]:
    for number in range(first, first + count):
        yield document(number, n_chunks)


@dataclass
class Query:
    text: str
    vector: np.ndarray


def queries(n: int, documents_in_corpus: int, n_chunks: int, seed: int = 99) -> list[Query]:
    """``n`` queries, each aimed at a chunk of a random document of the corpus."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        doc = document(int(rng.integers(documents_in_corpus)), n_chunks)
        row = int(rng.integers(n_chunks))
        words = doc.chunks[row].text.split()
        picked = rng.choice(len(words), size=6, replace=False)
        noise = 0.6 * rng.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM)
        vector = _unit(doc.vectors[row] + noise)
        out.append(Query(" ".join(words[i] for i in sorted(picked)), vector))
    return out


class SyntheticEmbedder(Embedder):
    """Answers the benchmark's queries with their prepared vectors: embedding is not timed."""

    name = "synthetic-384"
    dim = DIM

    def __init__(self, known: Sequence[Query] = ()) -> None:
        self.known = {q.text: q.vector for q in known}

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.known]
        if missing:
            raise KeyError(f"the synthetic embedder knows no vector for {missing[0]!r}")
        return np.stack([self.known[t] for t in texts])
