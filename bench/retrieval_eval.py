"""Retrieval quality on a PDF question set: answer-recall@5 and MRR@10 for dense, BM25, hybrid
and hybrid + rerank, counting a hit only inside the first BUDGET characters of ranked context.

    python bench/make_dataset.py bench/data/squad-v1.1-dev-half-a.json build/eval/squad --lang en
    python bench/retrieval_eval.py build/eval/squad --budget 4000
    python bench/retrieval_eval.py build/eval/cmrc --budget 2000

Prints a table and writes ``results.json`` beside the questions. The index is built under the
dataset folder once and reused (delete ``index/`` to rebuild, e.g. after changing chunking).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import Settings  # noqa: E402
from evaluation.dataset import EvalQuestion  # noqa: E402
from evaluation.runner import first_rank  # noqa: E402
from kbqa.app import KBQA  # noqa: E402

CONFIGS = {  # name -> (mode, rerank)
    "dense": ("dense", False),
    "bm25": ("bm25", False),
    "hybrid": ("hybrid", False),
    "hybrid+rerank": ("hybrid", True),
    "bm25+rerank": ("bm25", True),
}


def ingest(kb: KBQA, pdfs: Path) -> float:
    start, pages = time.perf_counter(), 0
    for path in sorted(pdfs.glob("*.pdf")):
        pages += kb.ingest(path).document.pages
    elapsed = time.perf_counter() - start
    kb.index.flush()
    print(f"ingested {pages} pages in {elapsed:.1f}s ({pages / max(elapsed, 1e-9):.1f} pages/s)")
    return elapsed


def evaluate(
    kb: KBQA, questions: list[EvalQuestion], budget: int, configs: list[str]
) -> dict[str, dict[str, float]]:
    results = {}
    for name in configs:
        mode, rerank = CONFIGS[name]
        recall, rr, seconds = 0, 0.0, 0.0
        for q in questions:
            start = time.perf_counter()
            hits = kb.search(q.question, top_k=10, mode=mode, rerank=rerank).hits
            seconds += time.perf_counter() - start
            if first_rank(hits, q, depth=5, budget=budget) is not None:
                recall += 1
            if (rank := first_rank(hits, q, depth=10, budget=budget)) is not None:
                rr += 1 / rank
        n = len(questions)
        results[name] = {"recall@5": recall / n, "mrr@10": rr / n, "s_per_query": seconds / n}
        print(
            f"{name:>14}  recall@5 {recall / n:.3f}  MRR@10 {rr / n:.3f}"
            f"  {seconds / n * 1000:.0f} ms/query"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", type=Path, help="folder with pdfs/ and questions.jsonl")
    parser.add_argument("--budget", type=int, default=4000, help="characters of ranked context")
    parser.add_argument("--sample", type=int, default=0, help="questions to sample (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset")
    args = parser.parse_args()

    questions = [
        EvalQuestion.model_validate_json(line)
        for line in (args.dataset / "questions.jsonl").open(encoding="utf-8")
    ]
    questions = [q for q in questions if q.answerable]  # retrieval needs an answer to find
    if args.sample:
        questions = random.Random(args.seed).sample(questions, min(args.sample, len(questions)))
    settings = Settings(data_dir=args.dataset / "index")
    with KBQA(settings) as kb:
        if not kb.index.documents():
            ingest(kb, args.dataset / "pdfs")
        print(
            f"{len(questions)} questions, budget {args.budget} chars,"
            f" chunk {settings.ingest.chunk_size}"
            f"/{settings.ingest.chunk_overlap}, reranker {settings.retrieval.reranker}"
        )
        results = evaluate(kb, questions, args.budget, args.configs.split(","))
    report = {
        "dataset": str(args.dataset),
        "questions": len(questions),
        "budget": args.budget,
        "chunk_size": settings.ingest.chunk_size,
        "chunk_overlap": settings.ingest.chunk_overlap,
        "results": results,
    }
    (args.dataset / "results.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
