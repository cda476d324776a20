"""What the speed benchmarks share: the dataset, timing statistics, memory bandwidth, output."""

from __future__ import annotations

import json
import math
import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.types import Hit
from evaluation.metrics import answer_rank, mean_reciprocal_rank, recall_at

# Built-in questions for a folder of PDFs without questions.jsonl (e.g. samples/).
FALLBACK_QUESTIONS = (
    "When did the Apollo program land the first humans on the Moon?",
    "Which rocket launched the Apollo missions?",
    "What caused the Apollo 1 fire?",
    "How many people died of the Black Death in Europe?",
    "Which bacterium caused the Black Death?",
    "How did the plague spread from Asia to Europe?",
)


@dataclass
class Dataset:
    """PDFs to ingest and, when the folder has ``questions.jsonl``, questions with answers."""

    pdfs: list[Path]
    questions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, folder: Path, max_pdfs: int, seed: int = 0) -> Dataset:
        """The first ``max_pdfs`` PDFs (by name) of ``folder`` or ``folder/pdfs``, with the
        questions about them in a seeded random order."""
        pdf_dir = folder / "pdfs" if (folder / "pdfs").is_dir() else folder
        pdfs = sorted(pdf_dir.glob("*.pdf"))[: max_pdfs or None]
        if not pdfs:
            raise ValueError(f"no PDFs in {pdf_dir}")
        questions: list[dict[str, Any]] = []
        names = {p.name for p in pdfs}
        if (folder / "questions.jsonl").is_file():
            with (folder / "questions.jsonl").open(encoding="utf-8") as lines:
                questions = [q for q in map(json.loads, lines) if q["document"] in names]
        random.Random(seed).shuffle(questions)
        return cls(pdfs, questions)

    def texts(self, n: int) -> list[str]:
        """``n`` question texts (the built-in ones when the dataset has none)."""
        texts = [q["question"] for q in self.questions] or list(FALLBACK_QUESTIONS)
        return [texts[i % len(texts)] for i in range(n)]


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds (nearest rank), with the count."""
    if not seconds:
        return {"n": 0, "p50_ms": float("nan"), "p95_ms": float("nan")}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        index = math.ceil(q * len(ordered) - 1e-9) - 1  # nearest rank, float error aside
        return ordered[min(len(ordered) - 1, max(0, index))] * 1000

    return {"n": len(ordered), "p50_ms": rank(0.50), "p95_ms": rank(0.95)}


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def rotations(items: Sequence[Callable[[], None]], round_: int) -> list[Callable[[], None]]:
    """The items in an order that rotates from round to round, so that a slow spell of the
    machine falls on each of them in turn."""
    k = round_ % len(items)
    return [*items[k:], *items[:k]]


def recall_and_mrr(
    search: Callable[[str], Sequence[tuple[str, str]]],
    questions: Sequence[dict[str, Any]],
    budget: int,
) -> dict[str, float]:
    """answer-recall@5 and MRR@10 of a search function returning (filename, text), best first."""
    ranks = [
        answer_rank(search(q["question"]), q["answers"], q["document"], 10, budget)
        for q in questions
    ]
    return {
        "questions": len(questions),
        "recall@5": recall_at(ranks, 5),
        "mrr@10": mean_reciprocal_rank(ranks),
    }


def hits_as_pairs(hits: Sequence[Hit]) -> list[tuple[str, str]]:
    return [(h.filename, h.chunk.text) for h in hits]


def memory_read_bandwidth(threads: int, mib: int = 1024, repeats: int = 5) -> float:
    """Bytes per second that ``threads`` threads read from memory, best of ``repeats``.

    Each thread sums its own slice of an array far larger than the caches (numpy releases the
    GIL in the reduction), which is how a decoder reads its weights: once per token, in order.
    """
    data = np.ones(mib * 2**20 // 8, dtype=np.float64)
    slices = np.array_split(data, threads)
    best = 0.0
    for _ in range(repeats):
        workers = [threading.Thread(target=np.sum, args=(s,)) for s in slices]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = max(best, data.nbytes / (time.perf_counter() - start))
    return best


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
