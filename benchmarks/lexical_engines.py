"""Compare lexical engines for a growing index: tantivy, SQLite FTS5, and bm25s rebuilt whole.

Synthetic chunks of 120 tokens drawn from a Zipf vocabulary (the shape of English text), fed to
each engine pre-tokenized (space-joined tokens, whitespace tokenizer), as kbqa does. For each
engine and size it prints JSON: build time, adding one 50-chunk document (commit included) and
deleting it, top-10 search p50/p99 for questions of common words and of mixed words, two
threads' search throughput against one's, and disk use.

    python -m benchmarks lexical-engines --sizes 100000,1000000 --engines tantivy,fts5
    python -m benchmarks lexical-engines --sizes 50000 --engines bm25s   # a rebuild per write

Timings depend on the machine's load; compare engines within one run.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
import typer

from benchmarks.cli import comma_ints

VOCAB = 50_000
CHUNK_TOKENS = 120
DOC_CHUNKS = 50


def _chunks(n: int, seed: int) -> Iterator[list[str]]:
    """n synthetic chunks (token lists), deterministic for a seed, in batches of memory."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
    p = 1.0 / ranks**1.07
    p /= p.sum()
    words = np.array([f"w{i}" for i in range(VOCAB)])
    done = 0
    while done < n:
        batch = min(20_000, n - done)
        draws = words[rng.choice(VOCAB, size=(batch, CHUNK_TOKENS), p=p)]
        yield from (row.tolist() for row in draws)
        done += batch


def _queries(seed: int) -> dict[str, list[list[str]]]:
    """Questions of common words (each matches most chunks) and of mixed words."""
    rng = np.random.default_rng(seed)
    common = [[f"w{i}" for i in rng.choice(50, size=4, replace=False)] for _ in range(30)]
    mixed = [
        [f"w{i}" for i in (*rng.choice(200, size=2), *rng.choice(np.arange(200, 20_000), size=3))]
        for _ in range(30)
    ]
    return {"common": common, "mixed": mixed}


class Tantivy:
    name = "tantivy"

    def __init__(self, path: Path) -> None:
        import tantivy

        self.t = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("id", stored=False, indexed=True, fast=True)
        builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
        self.schema = builder.build()
        path.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(path))
        self.index.config_reader(reload_policy="Manual")
        self.writer = self.index.writer(128_000_000, num_threads=1)

    def add(self, rows: list[tuple[int, list[str]]], commit: bool = True) -> None:
        for chunk_id, tokens in rows:
            doc = self.t.Document()
            doc.add_integer("id", chunk_id)  # i64: deletes by term match i64 terms only
            doc.add_text("body", " ".join(tokens))
            self.writer.add_document(doc)
        if commit:
            self.commit()

    def commit(self) -> None:
        self.writer.commit()
        self.index.reload()

    def delete(self, ids: list[int]) -> None:
        for chunk_id in ids:
            self.writer.delete_documents_by_term("id", chunk_id)
        self.commit()

    def search(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        q = self.t.Query.boolean_query(
            [(self.t.Occur.Should, self.t.Query.term_query(self.schema, "body", t)) for t in tokens]
        )
        searcher = self.index.searcher()
        hits = searcher.search(q, limit=k, count=False).hits
        ids = searcher.fast_field_values("id", [a for _, a in hits])
        return [(cast(int, i), float(s)) for i, (s, _) in zip(ids, hits, strict=True)]  # i64s

    def close(self) -> None:
        self.writer.wait_merging_threads()


class Fts5:
    """An external-content FTS5 table over the chunks table, in the same database."""

    name = "fts5"

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path / "db.sqlite3", check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE chunks (id INTEGER PRIMARY KEY, tokens TEXT NOT NULL)")
        self.db.execute(
            "CREATE VIRTUAL TABLE fts USING fts5(tokens, content='chunks', content_rowid='id',"
            ' tokenize="unicode61 remove_diacritics 0")'
        )
        self.path = path
        self.local = threading.local()

    def add(self, rows: list[tuple[int, list[str]]], commit: bool = True) -> None:
        data = [(i, " ".join(t)) for i, t in rows]
        self.db.executemany("INSERT INTO chunks VALUES (?, ?)", data)
        self.db.executemany("INSERT INTO fts (rowid, tokens) VALUES (?, ?)", data)
        if commit:
            self.commit()

    def commit(self) -> None:
        self.db.commit()

    def delete(self, ids: list[int]) -> None:
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT id, tokens FROM chunks WHERE id IN ({marks})", ids)
        self.db.executemany(
            "INSERT INTO fts (fts, rowid, tokens) VALUES ('delete', ?, ?)", rows.fetchall()
        )
        self.db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", ids)
        self.commit()

    def search(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        db = getattr(self.local, "db", None)
        if db is None:  # a connection per thread: that is how SQLite reads side by side
            db = self.local.db = sqlite3.connect(self.path / "db.sqlite3")
        match = " OR ".join(f'"{t}"' for t in tokens)
        rows = db.execute(
            "SELECT rowid, rank FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (match, k)
        )
        return [(int(i), -float(r)) for i, r in rows]

    def close(self) -> None:
        self.db.close()


class Bm25sRebuild:
    """Today's kbqa: every write rebuilds bm25s from all stored tokens."""

    name = "bm25s"

    def __init__(self, path: Path) -> None:
        self.rows: dict[int, list[str]] = {}
        self.bm25: Any = None  # a bm25s.BM25, imported at the first commit
        self.ids = np.zeros(0, dtype=np.int64)

    def add(self, rows: list[tuple[int, list[str]]], commit: bool = True) -> None:
        self.rows.update(rows)
        if commit:
            self.commit()

    def commit(self) -> None:
        import bm25s

        self.ids = np.fromiter(self.rows, dtype=np.int64)
        self.bm25 = bm25s.BM25()
        self.bm25.index(list(self.rows.values()), show_progress=False)

    def delete(self, ids: list[int]) -> None:
        for i in ids:
            self.rows.pop(i, None)
        self.commit()

    def search(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        assert self.bm25 is not None
        docs, scores = self.bm25.retrieve([tokens], k=k, show_progress=False, n_threads=1)
        return [(int(self.ids[d]), float(s)) for d, s in zip(docs[0], scores[0], strict=True)]

    def close(self) -> None:
        pass


ENGINES: dict[str, Callable[[Path], Tantivy | Fts5 | Bm25sRebuild]] = {
    "tantivy": Tantivy,
    "fts5": Fts5,
    "bm25s": Bm25sRebuild,
}


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _throughput(
    engine: Tantivy | Fts5 | Bm25sRebuild, queries: list[list[str]], threads: int
) -> float:
    """Searches per second with `threads` threads each running all the queries."""

    def run() -> None:
        for q in queries:
            engine.search(q, 10)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * len(queries) / (time.perf_counter() - start)


def measure(name: str, size: int, workdir: Path) -> dict[str, object]:
    path = workdir / f"{name}-{size}"
    engine = ENGINES[name](path)
    start = time.perf_counter()
    batch: list[tuple[int, list[str]]] = []
    for i, tokens in enumerate(_chunks(size, seed=1), start=1):
        batch.append((i, tokens))
        if len(batch) == 10_000:
            engine.add(batch, commit=False)
            batch = []
    engine.add(batch, commit=True)
    build_s = time.perf_counter() - start
    out: dict[str, object] = {"engine": name, "chunks": size, "build_s": round(build_s, 1)}

    adds, deletes = [], []
    for trial in range(5):
        first = size + 1 + trial * DOC_CHUNKS
        doc = list(enumerate(_chunks(DOC_CHUNKS, seed=100 + trial), start=first))
        start = time.perf_counter()
        engine.add(doc)
        adds.append(time.perf_counter() - start)
        start = time.perf_counter()
        engine.delete([i for i, _ in doc])
        deletes.append(time.perf_counter() - start)
    out["add_doc_ms"] = round(statistics.median(adds) * 1000, 1)
    out["delete_doc_ms"] = round(statistics.median(deletes) * 1000, 1)

    for kind, queries in _queries(seed=7).items():
        engine.search(queries[0], 10)  # warm caches
        times = []
        for q in queries:
            start = time.perf_counter()
            engine.search(q, 10)
            times.append((time.perf_counter() - start) * 1000)
        out[f"search_{kind}_p50_ms"] = round(_percentile(times, 50), 2)
        out[f"search_{kind}_p99_ms"] = round(_percentile(times, 99), 2)
    mixed = _queries(seed=7)["mixed"]
    one, two = _throughput(engine, mixed, 1), _throughput(engine, mixed, 2)
    out["threads_2_vs_1"] = round(two / one, 2)
    engine.close()
    out["disk_mb"] = round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6)
    return out


def lexical_engines(
    sizes: Annotated[
        str, typer.Option(help="Corpus sizes, in chunks, comma-separated.")
    ] = "100000",
    engines: Annotated[
        str, typer.Option(help=f"Engines to compare, comma-separated: {', '.join(ENGINES)}.")
    ] = "tantivy,fts5",
    workdir: Annotated[
        Path | None,
        typer.Option(help="Build the indexes here, and keep them (default: a temporary folder)."),
    ] = None,
) -> None:
    """Compare lexical engines for a growing index (tantivy, SQLite FTS5, bm25s).

    One JSON line per engine and size: build, add and delete a document, search p50/p99, two
    threads against one, disk."""
    counts = comma_ints(sizes, "--sizes")
    names = [name.strip() for name in engines.split(",")]
    if unknown := [name for name in names if name not in ENGINES]:
        message = f"unknown engine {unknown[0]!r} (known: {', '.join(ENGINES)})"
        raise typer.BadParameter(message, param_hint="--engines")
    folder = workdir or Path(tempfile.mkdtemp(prefix="kbqa-lexical-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for size in counts:
            for name in names:
                print(json.dumps(measure(name, size, folder)), flush=True)
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
