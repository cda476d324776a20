"""The speed benchmark's arithmetic, and `python -m benchmarks speed ingest` on the fake embedder
(no timings are asserted: they depend on the machine); `kbqa bench`, which runs it from the
checkout or says how to get one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.__main__ import app
from benchmarks.speed.common import (
    Dataset,
    memory_read_bandwidth,
    percentiles,
    rotations,
)
from benchmarks.speed.run import bench_settings
from cli.main import app as kbqa
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
        app, ["speed", "ingest", "--dataset", str(folder), "--no-langchain", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    ingest = json.loads(out.read_text())["ingest"]
    assert ingest["pages"] == 2
    assert ingest["pipeline_over_embedding"] > 0
    assert "pipeline time / embedding-only time" in result.output


def _kbqa(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from cli.main import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_kbqa_bench_runs_the_checkouts_benchmark_with_every_argument() -> None:
    shown = _kbqa("bench", "--help")  # the benchmark's own help, not the command's
    assert shown.returncode == 0, shown.stderr
    assert "--dataset" in shown.stdout
    assert "--sizes" in shown.stdout
    refused = _kbqa("bench", "scale", "--sizes", "-5")
    assert refused.returncode == 2
    assert "must be above 0" in " ".join(refused.stderr.replace("│", " ").split())


def test_kbqa_bench_without_a_checkout_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cli.bench.PROJECT_ROOT", tmp_path)  # an installed wheel: no benchmarks/
    result = CliRunner().invoke(kbqa, ["bench", "ingest"])
    assert result.exit_code == 1
    assert "source checkout" in result.output
    assert "make install" in result.output
