"""BM25 over chunks: kbqa's tokenizer, tantivy's segments.

Each collection has a tantivy index on disk, updated per document (a commit adds a segment,
merged in the background), so a write costs what it adds, not what the collection holds.
tantivy is fed kbqa's tokens, space-joined, through its whitespace tokenizer: tokenization
(English words, CJK character bigrams) stays :func:`tokenize`'s.

SQLite stays the truth. Every commit also writes a record of what the tantivy index holds
(the collection's generation, the chunk-id span of the last change, who built it) as one
reserved document, atomically with the change; see :class:`Held` and ``index/knowledge.py``
for how the difference is repaired on open.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tantivy
from bm25s.stopwords import STOPWORDS_EN

from core.text import CJK_CLASS

log = logging.getLogger(__name__)

# Bump when tokenize() changes: stored tokens of an older version are rebuilt on open.
TOKENIZER_VERSION = "3-cjk-bigrams"
# A CJK run, or a word of other letters and digits (which must not run on into CJK text).
_WORDS = re.compile(rf"([{CJK_CLASS}]+)|[^\W_{CJK_CLASS}]+", re.UNICODE)
_CJK_PUNCT = re.compile(r"[\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")
# Question words carry no topic, and questions are what we search with.
_STOP = frozenset(STOPWORDS_EN) | {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
}


def tokenize(text: str) -> list[str]:
    """Lower-cased words without English stopwords; CJK runs as overlapping character bigrams.

    Bigrams need no dictionary and match across word-segmentation differences (Lucene's
    CJKAnalyzer does the same). On CMRC 2018 they beat jieba's segmentation: BM25 answer-recall@5
    0.970 against 0.916 (docs/benchmarks.md).
    """
    tokens: list[str] = []
    for match in _WORDS.finditer(text.lower()):
        if match.group(1):
            for run in _CJK_PUNCT.split(match.group(1)):
                tokens.extend(run[i : i + 2] for i in range(max(len(run) - 1, 1)) if run)
        elif match.group() not in _STOP:
            tokens.append(match.group())
    return tokens


# The reserved document that records what the index holds; chunk ids are positive.
_HELD_ID = -1
_WRITER_HEAP = 32_000_000  # bytes buffered before tantivy writes a segment on its own
_BATCH = 20_000  # chunks per commit while building from the stored tokens


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # i64, not u64: tantivy-py deletes by term match i64 terms only.
    builder.add_integer_field("id", indexed=True, fast=True)
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    for name in ("generation", "span_lo", "span_hi", "complete"):
        builder.add_integer_field(name, stored=True)
    builder.add_text_field("owner", stored=True, tokenizer_name="raw")
    return builder.build()


@dataclass(frozen=True)
class Held:
    """What a lexical index holds, as its last commit recorded it.

    Complete: every change up to ``generation``, the last of which touched chunk ids
    ``span_lo..span_hi``. Not complete: a build from the stored tokens for ``generation``,
    done up to chunk id ``span_hi``. ``owner`` names the database and tokenizer it came from.
    """

    generation: int
    span_lo: int
    span_hi: int
    complete: bool
    owner: str


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise ValueError(f"lexical index: expected an integer field, got {value!r}")
    return value


class LexicalSearcher:
    """A snapshot of a lexical index: searches see the commits before it and no later one."""

    def __init__(self, index: tantivy.Index, schema: tantivy.Schema) -> None:
        self._searcher = index.searcher()
        self._schema = schema

    @property
    def engine(self) -> tuple[tantivy.Searcher, tantivy.Schema]:
        """The tantivy searcher and schema under this snapshot, for timing them bare."""
        return self._searcher, self._schema

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score) for the query's tokens (a repeated token counts twice)."""
        tokens = tokenize(query)
        if not tokens or k <= 0:
            return []
        terms = [tantivy.Query.term_query(self._schema, "body", t) for t in tokens]
        query_ = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in terms])
        # count=False: counting every match would defeat tantivy's block-max WAND pruning.
        hits = self._searcher.search(query_, limit=k, count=False).hits
        return [(i, float(s)) for i, (s, _) in zip(self._ids(hits), hits, strict=True) if s > 0]

    def _ids(self, hits: list[tuple[Any, tantivy.DocAddress]]) -> list[int]:
        values = self._searcher.fast_field_values("id", [address for _, address in hits])
        return [_int(v) for v in values]

    def chunk_ids(self) -> np.ndarray:
        """Every chunk id it holds, sorted (reads them all: for checks, not for searches)."""
        total = self._searcher.num_docs
        if not total:
            return np.empty(0, dtype=np.int64)
        hits = self._searcher.search(tantivy.Query.all_query(), limit=total, count=False).hits
        ids = np.sort(np.asarray(self._ids(hits), dtype=np.int64))
        return ids[ids != _HELD_ID]

    def held(self) -> Held | None:
        query = tantivy.Query.term_query(self._schema, "id", _HELD_ID)
        hits = self._searcher.search(query, limit=1, count=False).hits
        if not hits:
            return None
        doc = self._searcher.doc(hits[0][1])
        return Held(
            generation=_int(doc.get_first("generation")),
            span_lo=_int(doc.get_first("span_lo")),
            span_hi=_int(doc.get_first("span_hi")),
            complete=bool(_int(doc.get_first("complete"))),
            owner=str(doc.get_first("owner")),
        )


class LexicalIndex:
    """One collection's BM25 index in a tantivy directory, changed by :meth:`commit`.

    Callers serialise writes (KnowledgeIndex's write lock). Searches go through
    :attr:`searcher`, a snapshot that the caller replaces with the one :meth:`commit`
    returns when it makes the change visible (KnowledgeIndex: together with SQLite's commit).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._schema = _schema()
        try:
            self._index = self._open()
        except (OSError, ValueError) as e:  # unreadable: it is derived data, start again
            log.warning("lexical index %s unreadable (%s); it will be rebuilt", path, e)
            shutil.rmtree(path, ignore_errors=True)
            self._index = self._open()
        self._writer: tantivy.IndexWriter | None = None
        self.searcher = LexicalSearcher(self._index, self._schema)

    def _open(self) -> tantivy.Index:
        self.path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
        index.config_reader(reload_policy="Manual")  # new commits show only when we say
        return index

    def held(self) -> Held | None:
        """What the last commit recorded (which searches may not see yet: see :meth:`commit`)."""
        return LexicalSearcher(self._index, self._schema).held()

    def _write(self) -> tantivy.IndexWriter:
        # Opened on the first write only: a process that only reads (`kbqa check` beside a
        # server) must not need tantivy's writer lock.
        if self._writer is None:
            self._writer = self._index.writer(_WRITER_HEAP, num_threads=1)
        return self._writer

    def commit(
        self,
        held: Held,
        add: Iterable[tuple[int, str]] = (),
        remove: Iterable[int] = (),
    ) -> LexicalSearcher:
        """Remove chunk ids, add (chunk id, space-joined tokens), record `held`; all or nothing.

        Durable when it returns. Returns a snapshot that sees the change; :attr:`searcher`
        is left as it was, for the caller to swap.
        """
        writer = self._write()
        try:
            for chunk_id in remove:
                writer.delete_documents_by_term("id", chunk_id)
            for chunk_id, tokens in add:
                doc = tantivy.Document()
                doc.add_integer("id", chunk_id)
                doc.add_text("body", tokens)
                writer.add_document(doc)
            writer.delete_documents_by_term("id", _HELD_ID)
            record = tantivy.Document()
            record.add_integer("id", _HELD_ID)
            record.add_integer("generation", held.generation)
            record.add_integer("span_lo", held.span_lo)
            record.add_integer("span_hi", held.span_hi)
            record.add_integer("complete", int(held.complete))
            record.add_text("owner", held.owner)
            writer.add_document(record)
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        self._index.reload()
        return LexicalSearcher(self._index, self._schema)

    def refresh(self) -> None:
        """Point :attr:`searcher` at the last commit."""
        self._index.reload()
        self.searcher = LexicalSearcher(self._index, self._schema)

    def clear(self) -> None:
        """Drop every document (uncommitted: the next :meth:`commit` makes it so)."""
        self._write().delete_all_documents()

    def close(self) -> None:
        """Let go of the writer (and its lock on the directory); merges in flight finish."""
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None


# (chunk id, space-joined tokens) of a collection's chunks with first <= id <= last, in order.
Fetch = Callable[[int, int, int], list[tuple[int, str]]]


def build(index: LexicalIndex, owner: str, generation: int, fetch: Fetch) -> LexicalSearcher:
    """Fill `index` from the stored tokens, resuming an interrupted build for the same state.

    Commits every ``_BATCH`` chunks, recording how far it got, so a crash (or a kill) during a
    long build, e.g. the first open of an index made before the lexical engine existed, costs
    at most one batch. `fetch(first, last, limit)` reads at most `limit` chunks in order.
    """
    held = index.held()
    start = 1
    if (
        held is not None
        and not held.complete
        and (held.owner, held.generation)
        == (
            owner,
            generation,
        )
    ):
        start = held.span_hi + 1
        log.info("resuming the lexical build of %s from chunk %d", index.path.name, start)
    else:
        index.clear()
    searcher = index.searcher
    while True:
        rows = fetch(start, 2**62, _BATCH)
        last = rows[-1][0] if rows else start - 1
        done = len(rows) < _BATCH
        state = Held(generation, 0, last, done, owner)
        searcher = index.commit(state, add=rows)
        if done:
            return searcher
        start = last + 1


def sync(
    index: LexicalIndex,
    owner: str,
    generation: int,
    spans: Sequence[tuple[int, int]],
    fetch: Fetch,
) -> LexicalSearcher:
    """Make the chunk ids in `spans` hold exactly what the store holds; record `generation`.

    Only the chunks of those spans are read and rewritten: this is the repair of the
    difference after a crash, whatever side of the store's commit it happened on.
    """
    remove: list[int] = []
    add: list[tuple[int, str]] = []
    for lo, hi in spans:
        remove.extend(range(lo, hi + 1))
        add.extend(fetch(lo, hi, hi - lo + 1))
    lo = min((s[0] for s in spans), default=0)
    hi = max((s[1] for s in spans), default=0)
    return index.commit(Held(generation, lo, hi, True, owner), add=add, remove=remove)
