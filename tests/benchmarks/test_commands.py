"""``python -m benchmarks``: the commands it lists, their checks of bad options, and small runs of
the load test (on a server of its own, fake models) and of the lexical-engine comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.__main__ import app

runner = CliRunner()


def test_every_benchmark_is_a_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for command in (
        "speed",
        "make-dataset",
        "load",
        "gpu",
        "grow-api",
        "lexical-engines",
        "milvus-parity",
        "ocr",
        "scans",
        "trial-corpus",
        "trial",
        "translate-dataset",
    ):
        assert command in result.output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["load", "--mix", "ask=1,guess=2"], "unknown operation 'guess'"),
        (["load", "--mix", "ask=x"], "weight of 'ask' must be a whole number"),
        (["load", "--mix", "ask=0"], "gives no operation a weight above 0"),
        (["load", "--url", "http://example.com:8000"], "is not this machine"),
        (["load", "--url", "ftp://127.0.0.1"], "is not an http:// or https:// URL"),
        (["load", "--duration", "0"], "must be above 0"),
        (["load", "--clients", "0"], "--clients"),
        (["load", "--spawn", "missing.pdf"], "does not exist"),
        (["grow-api", "--sizes", "100,many"], "whole numbers separated by commas"),
        (["lexical-engines", "--sizes", "0"], "must be above 0"),
        (["lexical-engines", "--engines", "tantivy,lucene"], "unknown engine 'lucene'"),
        (["speed", "scale", "--sizes", "-5"], "must be above 0"),
    ],
)
def test_a_bad_option_is_refused_with_what_is_wrong(argv: list[str], message: str) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())


@pytest.mark.slow  # starts an API server (about ten seconds on two cores)
def test_load_on_a_server_of_its_own_seeded_with_the_files_given(tmp_path: Path) -> None:
    seeds = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for n, path in enumerate(seeds):
        path.write_text(f"Seed file {n}: the Meridian project surveys the river Aller.")
    argv = ["load", "--spawn", "--fake", "--requests", "12", "--clients", "3", "--json"]
    result = runner.invoke(app, [*argv, "--mix", "ask=1,search=2", *map(str, seeds)])
    assert result.exit_code == 0, result.output
    assert "seeding the server with 2 files" in result.stderr
    report = json.loads(result.stdout)
    assert (report["spawned"], report["fake"]) == (True, True)
    assert report["mix"] == {"ask": 1, "search": 2}
    assert (report["overall"]["count"], report["overall"]["errors"]) == (12, 0)
    assert report["server_rss_mb"]["peak"] > 0


def test_lexical_engines_prints_a_line_per_engine(tmp_path: Path) -> None:
    argv = ["--sizes", "200", "--engines", "tantivy,fts5,bm25s", "--workdir", str(tmp_path)]
    result = runner.invoke(app, ["lexical-engines", *argv])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["engine"], line["chunks"]) for line in lines] == [
        ("tantivy", 200),
        ("fts5", 200),
        ("bm25s", 200),
    ]
    assert all(line["add_doc_ms"] > 0 and line["search_mixed_p50_ms"] > 0 for line in lines)
    assert (tmp_path / "tantivy-200").is_dir()  # --workdir is kept


@pytest.mark.slow  # renders five articles and scans two PDFs (seconds)
def test_the_trial_corpus_holds_what_a_person_brings(tmp_path: Path) -> None:
    import pypdf

    from benchmarks.trial import ROOT

    result = runner.invoke(app, ["trial-corpus", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "Apollo_program.pdf",
        "Black_Death.pdf",
        "Genghis_Khan_scan.pdf",
        "Harvard_University.pdf",
        "Packet_switching.pdf",
        "Super_Bowl_50.pdf",
        "Warsaw.docx",
        "cmrc-000.pdf",
        "cmrc-002-scan.pdf",
    ]
    for scan in ("Genghis_Khan_scan.pdf", "cmrc-002-scan.pdf"):  # images, no text to extract
        pages = pypdf.PdfReader(tmp_path / scan).pages
        assert pages
        assert not "".join(page.extract_text() for page in pages).strip()
    for scenario in (ROOT / "benchmarks/trial").glob("*.json"):  # every file a step names exists
        steps = json.loads(scenario.read_text())["steps"]
        assert {f for s in steps for f in s.get("upload", [])} <= set(names)


def test_a_dataset_is_translated_by_kbqas_own_translation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each question as the model translated it, with its id, answers and document kept and
    the question it came from; one the model did not translate is left out; the PDFs are the
    source's, linked."""
    from generation.generator import Generator

    source = tmp_path / "squad"
    (source / "pdfs").mkdir(parents=True)
    rows = [
        {
            "id": "a",
            "question": "Who kept the lighthouse?",
            "answers": ["Ada"],
            "document": "l.pdf",
        },
        {"id": "b", "question": "Why?", "answers": ["because"], "document": "l.pdf"},
    ]
    (source / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    translations = {"Who kept the lighthouse?": "谁看守灯塔？"}
    monkeypatch.setattr(Generator, "translate", lambda self, q, into: translations.get(q))
    monkeypatch.setenv("KBQA_LLM__BACKEND", "fake")
    out = tmp_path / "squad-zh"
    result = runner.invoke(app, ["translate-dataset", str(source), str(out), "--into", "zh"])
    assert result.exit_code == 0, result.output
    assert "translated 1 of 2 questions into zh" in result.output
    written = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert written == [{**rows[0], "question": "谁看守灯塔？", "original": rows[0]["question"]}]
    assert (out / "pdfs").resolve() == (source / "pdfs").resolve()
