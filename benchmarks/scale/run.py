"""``kbqa bench scale``: grow one synthetic corpus through the sizes asked, measuring each.

The corpus is built in this process (documents of ``build_chunks`` chunks, with their vectors:
no embedder; bulk-loaded by default, see bulk.py), then measured by fresh processes
(:mod:`benchmarks.scale.measure`), so that open time and memory are those of a server starting on
it. Each size prints one JSON line; the end prints a table and what 10M chunks would take,
extrapolated from the growth between the two largest sizes.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.scale import bulk
from benchmarks.scale.corpus import SyntheticEmbedder, documents
from benchmarks.scale.measure import COLLECTION
from core.settings import DenseSettings
from index.knowledge import KnowledgeIndex
from index.store import Store

TABLE = (
    ("chunks", "chunks"),
    ("add_s", "add 50 chunks (s)"),
    ("delete_s", "delete (s)"),
    ("hybrid_p50_ms", "hybrid p50 (ms)"),
    ("hybrid_p99_ms", "hybrid p99 (ms)"),
    ("hybrid_rerank_p50_ms", "with rerank p50 (ms)"),
    ("clients_8_vs_1", "8 clients / 1"),
    ("recall_at_10", "dense recall@10"),
    ("rss_mb", "RSS (MiB)"),
    ("disk_mb", "disk (MiB)"),
    ("open_s", "open (s)"),
    ("crashed_open_s", "open after crash (s)"),
    ("lost_open_s", "open, FAISS file lost (s)"),
    ("open_extra_over_vectors", "open memory / vectors"),
    ("checkpoint_s", "checkpoint (s)"),
    ("lost_ivf_build_s", "IVF build (s)"),
)

# Costs, which grow with the corpus; ratios (recall, 8 clients / 1) are not extrapolated.
PROJECTED = (
    "add_s",
    "delete_s",
    "hybrid_p50_ms",
    "hybrid_p99_ms",
    "rss_mb",
    "disk_mb",
    "open_s",
    "crashed_open_s",
    "lost_open_s",
    "checkpoint_s",
    "lost_ivf_build_s",
)


def _child(*args: object, timeout: float = 3600) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale.measure", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"measure {args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


def _documents_in(data_dir: Path) -> int:
    if not (data_dir / "kbqa.sqlite3").exists():
        return 0
    store = Store(data_dir / "kbqa.sqlite3")
    try:
        return store.stats().get(COLLECTION, (0, 0))[0]
    finally:
        store.close()


def grow(data_dir: Path, have: int, want: int, build_chunks: int) -> float:
    """Add documents ``have`` .. ``want - 1`` one by one; seconds per 1,000 chunks."""
    index = KnowledgeIndex(data_dir, SyntheticEmbedder(), DenseSettings())
    started = time.perf_counter()
    try:
        for doc in documents(have, want - have, build_chunks):
            index.add_document(COLLECTION, doc.parsed, doc.chunks, doc.vectors)
        index.wait_for_rebuilds()
    finally:
        index.close()
    return (time.perf_counter() - started) / max((want - have) * build_chunks / 1000, 1e-9)


def measure_size(data_dir: Path, docs: int, build_chunks: int, n_queries: int) -> dict[str, Any]:
    result = _child("steady", data_dir, docs, build_chunks, n_queries)
    _child("crash", data_dir)
    result |= _child("reopen", data_dir)
    result |= _child("lost", data_dir)
    return result


def project(results: list[dict[str, Any]], target: int) -> dict[str, float]:
    """Each figure at ``target`` chunks, on the power law through the two largest sizes.

    Nothing when those two sizes searched differently (exact against IVF): the growth between
    them is the change of structure, not the corpus. A cost that fell between them (noise, or
    a fixed cost) is projected flat, not falling.
    """
    if len(results) < 2:
        return {}
    a, b = results[-2], results[-1]
    if a.get("dense_exact") != b.get("dense_exact"):
        return {}
    out = {}
    for key in PROJECTED:
        x, y = a.get(key), b.get(key)
        if not isinstance(x, int | float) or not isinstance(y, int | float) or x <= 0 or y <= 0:
            continue
        slope = max(0.0, math.log(y / x) / math.log(b["chunks"] / a["chunks"]))
        out[key] = round(y * (target / b["chunks"]) ** slope, 3)
    return out


def run(
    sizes: list[int],
    build_chunks: int = 1000,
    n_queries: int = 200,
    work_dir: Path | None = None,
    json_path: Path | None = None,
    build: str = "bulk",
) -> list[dict[str, Any]]:
    """Grow the corpus to each size in turn (ascending) and measure it. ``build``: 'bulk'
    (rows into SQLite, the index opened on them: see bulk.py) or 'add' (add_document each)."""
    scratch = work_dir or Path(tempfile.mkdtemp(prefix="kbqa-scale-"))
    results: list[dict[str, Any]] = []
    have = _documents_in(scratch)  # a corpus kept from an earlier run grows from where it is
    try:
        for size in sorted(sizes):
            want = max(1, size // build_chunks)
            result: dict[str, Any] = {"size": size, "build": build}
            if want > have and build == "bulk":
                result |= bulk.build(scratch, COLLECTION, have, want - have, build_chunks)
            elif want > have:
                result["build_s_per_1k_chunks"] = round(grow(scratch, have, want, build_chunks), 3)
            have = want
            result |= measure_size(scratch, have, build_chunks, n_queries)
            print(json.dumps(result), flush=True)
            results.append(result)
            if json_path is not None:
                json_path.write_text(json.dumps({"results": results}, indent=1))
    finally:
        if work_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    projected = project(results, 10_000_000)
    print_table(results, projected)
    if not projected and len(results) > 1:
        print("No 10M projection: the two largest sizes searched differently (exact, IVF).")
    if json_path is not None:
        json_path.write_text(json.dumps({"results": results, "at_10m": projected}, indent=1))
    return results


def print_table(results: list[dict[str, Any]], projected: dict[str, float]) -> None:
    header = [label for _, label in TABLE] + []
    rows = [[str(r.get(key, "")) for key, _ in TABLE] for r in results]
    if projected:
        rows.append(["10M (projected)"] + [str(projected.get(k, "")) for k, _ in TABLE[1:]])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
