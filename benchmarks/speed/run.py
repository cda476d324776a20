"""Run the speed benchmarks, print their table and write their JSON."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.speed.common import Dataset
from core.settings import Settings, get_settings
from kbqa.app import KBQA

PARTS = ("ingest", "query", "generation")


def bench_settings(data_dir: Path, chat: bool) -> Settings:
    """The user's settings on a scratch index. With ``chat``, the packaged chat model is
    assembled once, in the user's data folder, as kbqa itself would."""
    settings = get_settings()
    llm = settings.llm
    llama_cpp = llm.llama_cpp
    local = llm.base_url is None and llama_cpp.model_path is None
    if chat and llm.backend != "fake" and local:
        from generation.assets import PACKAGED_MODELS, ensure_model

        path = ensure_model(PACKAGED_MODELS[llm.local_model], settings.models_dir)
        llama_cpp = llama_cpp.model_copy(update={"model_path": path})
    # No prompt states kept: a request answered from an earlier one's state would time the
    # cache, and the bare and kbqa sides of a comparison send the same prompts.
    llama_cpp = llama_cpp.model_copy(update={"prompt_cache_mb": 0})
    llm = llm.model_copy(update={"llama_cpp": llama_cpp})
    return settings.model_copy(update={"data_dir": data_dir, "llm": llm})


def run(
    parts: list[str],
    dataset_dir: Path,
    *,
    pdfs: int = 4,
    searches: int = 20,
    asks: int = 3,
    ask_max_tokens: int = 64,
    recall_questions: int = 40,
    budget: int = 4000,
    langchain: bool = True,
    generation_rounds: int = 3,
    generation_max_tokens: int = 128,
) -> dict[str, Any]:
    """Run the named parts on a scratch index; returns the report."""
    dataset = Dataset.load(dataset_dir, pdfs)
    report: dict[str, Any] = {"dataset": str(dataset_dir), "pdfs": [p.name for p in dataset.pdfs]}
    scratch = Path(tempfile.mkdtemp(prefix="kbqa-bench-"))
    try:
        chat = "generation" in parts or ("query" in parts and asks > 0)
        with KBQA(bench_settings(scratch, chat)) as kb:
            if "ingest" in parts:
                from benchmarks.speed.ingest import run_ingest

                report["ingest"] = run_ingest(
                    kb,
                    dataset,
                    langchain=langchain,
                    recall_questions=recall_questions,
                    budget=budget,
                )
            elif "query" in parts:
                for pdf in dataset.pdfs:
                    kb.ingest(pdf)
            if "query" in parts:
                report["query"] = _run_query(kb, dataset, searches, asks, ask_max_tokens)
            if "generation" in parts:
                from benchmarks.speed.generation import run_generation

                report["generation"] = run_generation(kb, generation_rounds, generation_max_tokens)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report


def _run_query(
    kb: KBQA, dataset: Dataset, searches: int, asks: int, max_tokens: int
) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from benchmarks.speed.query import run_ask, run_search

    app = create_app(service=kb, warm_up=False)  # no lifespan: the service stays ours to close
    client = TestClient(app)
    try:
        result = {"search": run_search(kb, client, dataset, searches)}
        if asks:
            result["ask"] = run_ask(kb, client, dataset, asks, max_tokens)
        return result
    finally:
        app.state.jobs.close()


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))


def print_report(report: dict[str, Any], console: Console) -> None:
    """One table of ratios (each of two things measured in the same run) and the targets."""
    table = Table("measure", "figure", "target", "met", title="kbqa bench")

    def row(
        name: str, value: float, target: str = "", ok: bool | None = None, fmt: str = ".2f"
    ) -> None:
        met = "" if ok is None else ("yes" if ok else "NO")
        table.add_row(name, format(value, fmt), target, met)

    if ingest := report.get("ingest"):
        pps = ingest["pages_per_s"]
        for name, value in pps.items():
            row(f"ingest pages/s, {name}", value, fmt=".1f")
        if "kbqa_over_langchain_pages_per_s" in ingest:
            x = ingest["kbqa_over_langchain_pages_per_s"]
            row("ingest: kbqa / LangChain pages/s (same model)", x, ">= 3", x >= 3)
        if "kbqa_over_langchain_minilm_pages_per_s" in ingest:
            x = ingest["kbqa_over_langchain_minilm_pages_per_s"]
            row("ingest: kbqa / LangChain on MiniLM pages/s", x, ">= 2", x >= 2)
        x = ingest["pipeline_over_embedding"]
        row("ingest: pipeline time / embedding-only time", x, "<= 1.20", x <= 1.2)
        for name, r in ingest.get("recall", {}).items():
            row(f"recall@5 {name} ({r['questions']} q)", r["recall@5"], fmt=".3f")
            row(f"MRR@10 {name}", r["mrr@10"], fmt=".3f")
    if search := report.get("query", {}).get("search"):
        for label, key in (
            ("POST /search", "http"),
            ("KBQA.search", "service"),
            ("bare calls", "bare_sum"),
        ):
            row(f"search p50 ms, {label}", search[key]["p50_ms"], fmt=".1f")
            row(f"search p95 ms, {label}", search[key]["p95_ms"], fmt=".1f")
        x = search["http_over_bare_p50"]
        row("search p50: /search / bare calls", x, "<= 1.20", x <= 1.2)
        for stage, x in search["stage_over_bare_p50"].items():
            p = search["stages"][stage]
            row(f"  {stage} p50 {p['p50_ms']:.1f} ms, p95 {p['p95_ms']:.1f} ms / bare p50", x)
    if ask := report.get("query", {}).get("ask"):
        row("ask p50 ms, POST /ask", ask["http"]["p50_ms"], fmt=".0f")
        row("ask p95 ms, POST /ask", ask["http"]["p95_ms"], fmt=".0f")
        for stage, p in ask["stages"].items():
            row(f"  ask stage {stage} p50 ms (p95 {p['p95_ms']:.0f})", p["p50_ms"], fmt=".0f")
        x = ask["http_over_bare_p50"]
        row("ask p50: /ask / bare calls (search + chat)", x, "<= 1.15", x <= 1.15)
        x = ask["http_over_stage_sum_p50"]
        row("ask p50: /ask / sum of its reported stages", x, "<= 1.15", x <= 1.15)
    if gen := report.get("generation"):
        row("prompt tokens/s", gen["prompt_tokens_per_s"], fmt=".0f")
        row("output tokens/s", gen["output_tokens_per_s"], fmt=".1f")
        row("memory read GB/s", gen["memory_read_GB_per_s"], fmt=".1f")
        if "output_over_bound" in gen:
            row("bandwidth bound tokens/s", gen["bandwidth_bound_tokens_per_s"], fmt=".1f")
            x = gen["output_over_bound"]
            row("output tokens/s / bandwidth bound", x, ">= 0.70", x >= 0.7)
    console.print(table)
