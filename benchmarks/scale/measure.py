"""The scale benchmark's measurements of one corpus, each in a fresh process.

``python -m benchmarks.scale.measure MODE DATA_DIR DOCS CHUNKS_PER_DOC`` prints one JSON object:

- ``steady``: open time and memory, hybrid search p50/p99 (rerank off), 8 clients against 1,
  dense recall@10 against exact search (with an nprobe sweep), adding and deleting one
  50-chunk document, a forced checkpoint, RSS and disk use;
- ``crash``: adds a document and dies without closing (SIGKILL-like: ``os._exit``), so the
  FAISS file on disk is behind the database;
- ``reopen``: opens after that crash (the difference replayed from SQLite), then removes the
  crash's document and closes;
- ``lost``: opens with the FAISS files deleted (rebuilt from SQLite), and times the background
  IVF build that follows.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scale.corpus import Query, SyntheticEmbedder, document, queries
from core.settings import DenseSettings, EmbeddingSettings, RetrievalSettings
from index.knowledge import KnowledgeIndex
from index.vectors import search_faiss
from retrieval.retriever import HybridRetriever

COLLECTION = "scale"
PROBE_SWEEP = (8, 16, 32, 64, 128)
CRASH_DOC = 10**7  # document numbers the measurements add, far past the corpus's


def memory_mb() -> tuple[float, float]:
    """(RSS, peak RSS) of this process in MiB, from /proc (Linux)."""
    status = Path("/proc/self/status").read_text()
    rss, peak = (int(re.search(rf"{k}:\s+(\d+)", status)[1]) for k in ("VmRSS", "VmHWM"))  # type: ignore[index]
    return rss / 1024, peak / 1024


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _open(data_dir: Path, embedder: SyntheticEmbedder) -> tuple[KnowledgeIndex, dict[str, Any]]:
    rss0, _ = memory_mb()
    started = time.perf_counter()
    index = KnowledgeIndex(data_dir, embedder, DenseSettings())
    index.lexical_search(COLLECTION, "open", 1)  # the lexical index opens on first use
    seconds = time.perf_counter() - started
    _, peak = memory_mb()
    chunks = sum(c for _, c in index.stats().values())
    vector_mb = chunks * embedder.dim * 4 / 2**20
    return index, {
        "chunks": chunks,
        "open_s": round(seconds, 2),
        "open_extra_mb": round(peak - rss0, 1),
        "vectors_mb": round(vector_mb, 1),
        "open_extra_over_vectors": round((peak - rss0) / max(vector_mb, 1e-9), 2),
    }


def _exact_top(index: KnowledgeIndex, qs: list[Query], k: int) -> np.ndarray:
    """The exact top-k chunk ids of each query, streaming the stored vectors in batches."""
    matrix = np.stack([q.vector for q in qs])
    best_ids = np.full((len(qs), k), -1, dtype=np.int64)
    best = np.full((len(qs), k), -np.inf, dtype=np.float32)
    for ids, vectors in index.store.iter_vectors(COLLECTION, matrix.shape[1], 50_000):
        scores = matrix @ vectors.T
        all_scores = np.concatenate([best, scores], axis=1)
        all_ids = np.concatenate([best_ids, np.broadcast_to(ids, scores.shape)], axis=1)
        top = np.argsort(-all_scores, axis=1)[:, :k]
        best = np.take_along_axis(all_scores, top, axis=1)
        best_ids = np.take_along_axis(all_ids, top, axis=1)
    return best_ids


def _recall(index: KnowledgeIndex, qs: list[Query], k: int = 10) -> dict[str, Any]:
    truth = _exact_top(index, qs, k)
    vectors, _ = index.engines(COLLECTION)
    out: dict[str, Any] = {"dense_exact": vectors.exact, "nprobe": vectors.settings.nprobe}
    sweep = {}
    for nprobe in PROBE_SWEEP if not vectors.exact else (vectors.settings.nprobe,):
        hits, times = 0, []
        for row, q in enumerate(qs):
            started = time.perf_counter()
            _, ids = search_faiss(vectors.faiss_index, q.vector, k, nprobe)
            times.append(time.perf_counter() - started)
            hits += len(set(ids[0].tolist()) & set(truth[row].tolist()))
        sweep[nprobe] = {
            "recall_at_10": round(hits / (k * len(qs)), 4),
            "dense_p50_ms": round(1000 * statistics.median(times), 2),
        }
    out["sweep"] = sweep
    out["recall_at_10"] = sweep.get(vectors.settings.nprobe, next(iter(sweep.values())))[
        "recall_at_10"
    ]
    return out


def _search(retriever: HybridRetriever, qs: list[Query]) -> dict[str, Any]:
    for q in qs[:10]:  # warm up
        retriever.search(q.text, [COLLECTION], top_k=5, rerank=False)
    times, stages = [], {"dense": [], "bm25": [], "fuse": []}  # type: ignore[var-annotated]
    for q in qs:
        started = time.perf_counter()
        result = retriever.search(q.text, [COLLECTION], top_k=5, rerank=False)
        times.append(time.perf_counter() - started)
        for stage, values in stages.items():
            values.append(result.timings.get(stage, 0.0))
    out = {
        "hybrid_p50_ms": round(1000 * _percentile(times, 50), 2),
        "hybrid_p99_ms": round(1000 * _percentile(times, 99), 2),
    }
    for stage, values in stages.items():
        out[f"{stage}_p50_ms"] = round(1000 * _percentile(values, 50), 2)
    return out


def _with_rerank(index: KnowledgeIndex, qs: list[Query]) -> dict[str, Any]:
    """Hybrid search with the default reranker (MaxSim over the packaged MiniLM's token
    vectors of the top 20 chunks): a cost per query that the corpus's size does not change."""
    try:
        from index.embedders import SentenceTransformerEmbedder
        from retrieval.rerankers import make_reranker

        encoder = SentenceTransformerEmbedder(EmbeddingSettings())
        reranker = make_reranker(RetrievalSettings(), encoder)
    except Exception as exc:  # no model installed: say so rather than fail the benchmark
        return {"rerank_error": f"{type(exc).__name__}: {exc}"}
    retriever = HybridRetriever(index, RetrievalSettings(), reranker)
    retriever.search(qs[0].text, [COLLECTION], rerank=True)  # warm up
    totals, stages = [], []
    for q in qs:
        started = time.perf_counter()
        result = retriever.search(q.text, [COLLECTION], rerank=True)
        totals.append(time.perf_counter() - started)
        stages.append(result.timings.get("rerank", 0.0))
    return {
        "hybrid_rerank_p50_ms": round(1000 * _percentile(totals, 50), 1),
        "rerank_p50_ms": round(1000 * _percentile(stages, 50), 1),
    }


def _throughput(retriever: HybridRetriever, qs: list[Query], rounds: int = 3) -> dict[str, Any]:
    """Queries per second of 1 client and of 8 at once, in alternating rounds (the machine's
    speed drifts: only figures measured side by side compare); medians of the rounds."""

    def one(q: Query) -> None:
        retriever.search(q.text, [COLLECTION], top_k=5, rerank=False)

    qps: dict[int, list[float]] = {1: [], 8: []}
    busy: dict[int, list[float]] = {1: [], 8: []}  # CPU seconds per second: > 1 is parallel
    for _ in range(rounds):
        for clients in (1, 8):
            started, cpu = time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(one, qs))
            wall = time.perf_counter() - started
            qps[clients].append(len(qs) / wall)
            busy[clients].append((time.process_time() - cpu) / wall)
    single, eight = statistics.median(qps[1]), statistics.median(qps[8])
    return {
        "qps_1": round(single, 1),
        "qps_8": round(eight, 1),
        "clients_8_vs_1": round(eight / single, 2),
        "cpu_per_wall_1": round(statistics.median(busy[1]), 2),
        "cpu_per_wall_8": round(statistics.median(busy[8]), 2),
    }


def _writes(index: KnowledgeIndex, embedder: SyntheticEmbedder, reps: int) -> dict[str, Any]:
    adds, deletes = [], []
    for rep in range(reps):
        doc = document(CRASH_DOC + 100 + rep, 50)
        started = time.perf_counter()
        index.add_document(COLLECTION, doc.parsed, doc.chunks, doc.vectors)
        adds.append(time.perf_counter() - started)
        started = time.perf_counter()
        index.delete_document(COLLECTION, doc.parsed.id)
        deletes.append(time.perf_counter() - started)
    started = time.perf_counter()
    index.flush(force=True)
    return {
        "add_s": round(statistics.median(adds), 3),
        "add_max_s": round(max(adds), 3),
        "delete_s": round(statistics.median(deletes), 3),
        "delete_max_s": round(max(deletes), 3),
        "checkpoint_s": round(time.perf_counter() - started, 2),
    }


def steady(data_dir: Path, docs: int, chunks_per_doc: int, n_queries: int) -> dict[str, Any]:
    qs = queries(n_queries, docs, chunks_per_doc)
    embedder = SyntheticEmbedder(qs)
    index, out = _open(data_dir, embedder)
    retriever = HybridRetriever(index, RetrievalSettings(reranker="none"), None)
    out |= _search(retriever, qs)
    out |= _throughput(retriever, qs)
    out |= _recall(index, qs[:100])
    out |= _writes(index, embedder, reps=5)
    rss, peak = memory_mb()
    out |= {"rss_mb": round(rss, 1), "peak_rss_mb": round(peak, 1)}
    out |= _with_rerank(index, qs[:5])
    index.close()
    out["disk_mb"] = round(disk_mb(data_dir), 1)
    return out


def crash(data_dir: Path) -> dict[str, Any]:
    index = KnowledgeIndex(data_dir, SyntheticEmbedder(), DenseSettings())
    doc = document(CRASH_DOC, 50)
    index.add_document(COLLECTION, doc.parsed, doc.chunks, doc.vectors)
    print(json.dumps({"crashed_after_adding": doc.parsed.id}), flush=True)
    os._exit(0)  # no close, no flush: the FAISS file is behind SQLite


def reopen(data_dir: Path) -> dict[str, Any]:
    index, out = _open(data_dir, SyntheticEmbedder())
    out["verify"] = index.verify()
    index.delete_document(COLLECTION, document(CRASH_DOC, 1).parsed.id)
    index.close()
    return {f"crashed_{k}": v for k, v in out.items()}


def lost(data_dir: Path) -> dict[str, Any]:
    for path in (data_dir / "vectors").glob("*"):
        path.unlink()
    index, out = _open(data_dir, SyntheticEmbedder())
    started = time.perf_counter()
    index.wait_for_rebuilds()
    out["ivf_build_s"] = round(time.perf_counter() - started, 2)
    out["ivf_build_peak_rss_mb"] = round(memory_mb()[1], 1)
    index.close()
    return {f"lost_{k}": v for k, v in out.items()}


def main(argv: list[str]) -> None:
    mode, data_dir = argv[0], Path(argv[1])
    if mode == "steady":
        result = steady(data_dir, int(argv[2]), int(argv[3]), int(argv[4]))
    elif mode == "crash":
        result = crash(data_dir)
    elif mode == "reopen":
        result = reopen(data_dir)
    elif mode == "lost":
        result = lost(data_dir)
    else:
        raise SystemExit(f"mode must be steady, crash, reopen or lost, got {mode!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
