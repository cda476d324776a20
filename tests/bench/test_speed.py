"""The speed benchmark's arithmetic, and `kbqa bench ingest` on the fake embedder (no timings
are asserted: they depend on the machine)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.speed.common import (
    Dataset,
    memory_read_bandwidth,
    percentiles,
    rotations,
)
from bench.speed.run import bench_settings
from cli.main import app
from core.settings import get_settings
from evaluation.metrics import answer_rank
from tests.utils.pdfs import make_text_pdf


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    stats = percentiles([i / 1000 for i in range(1, 101)])
    assert (stats["n"], stats["p50_ms"], stats["p95_ms"]) == (100, 50.0, 95.0)


def test_rotations_put_each_step_first_in_turn() -> None:
    steps = [print, repr, str]
    assert [rotations(steps, r)[0] for r in range(4)] == [print, repr, str, print]


def test_a_hit_counts_only_inside_the_budget() -> None:
    golds = ["Ada Brook"]
    ranked = [("a.pdf", "x" * 30), ("b.pdf", "Ada Brook"), ("a.pdf", "keeper: Ada  brook")]
    assert answer_rank(ranked, golds, "a.pdf", depth=5, budget=100) == 3
    assert answer_rank(ranked, golds, "a.pdf", depth=5, budget=45) is None
    assert answer_rank(ranked, golds, "a.pdf", depth=2, budget=100) is None


def test_memory_bandwidth_is_measured() -> None:
    assert memory_read_bandwidth(threads=2, mib=16, repeats=1) > 0


def test_dataset_keeps_the_questions_about_its_pdfs(tmp_path: Path) -> None:
    (tmp_path / "pdfs").mkdir()
    for name in ("a.pdf", "b.pdf"):
        make_text_pdf(tmp_path / "pdfs" / name, ["text"], font="core")
    lines = [{"question": "q?", "answers": ["x"], "document": d} for d in ("a.pdf", "b.pdf")]
    (tmp_path / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in lines))
    dataset = Dataset.load(tmp_path, max_pdfs=1)
    assert [p.name for p in dataset.pdfs] == ["a.pdf"]
    assert [q["document"] for q in dataset.questions] == ["a.pdf"]


@pytest.fixture
def _fake_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KBQA_EMBEDDING__BACKEND", "fake")
    monkeypatch.setenv("KBQA_LLM__BACKEND", "fake")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("_fake_models")
def test_bench_keeps_no_prompt_states(tmp_path: Path) -> None:
    """A prompt read from an earlier request's state would time the cache, not the model."""
    assert bench_settings(tmp_path, chat=False).llm.llama_cpp.prompt_cache_mb == 0
    assert get_settings().llm.llama_cpp.prompt_cache_mb > 0  # the user's own server keeps them


@pytest.mark.usefixtures("_fake_models")
def test_bench_ingest_reports_ratios(tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    make_text_pdf(folder / "harbour.pdf", ["The harbour was built in 1850.", "Ada Brook."])
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app, ["bench", "ingest", "--dataset", str(folder), "--no-langchain", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    ingest = json.loads(out.read_text())["ingest"]
    assert ingest["pages"] == 2
    assert ingest["pipeline_over_embedding"] > 0
    assert "pipeline time / embedding-only time" in result.output
