"""The evaluator on a two-document collection with the fake embedder and the quoting model,
whose answers are known, so every score can be worked out by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from evaluation.dataset import EvalQuestion, load_questions
from evaluation.runner import EvalConfig, Evaluator, Report
from kbqa.app import KBQA
from tests.utils.pdfs import make_text_pdf

QUESTIONS = [
    EvalQuestion(
        id="keeper",
        question="Who was the lighthouse keeper?",
        answers=["Ada Brook"],
        document="harbour.pdf",
        page=2,
    ),
    EvalQuestion(
        id="built",
        question="When was the old harbour built?",
        answers=["1850"],
        document="harbour.pdf",
        page=1,
    ),
    # The answer is in the collection, but not in the document named as gold: not a hit.
    EvalQuestion(
        id="wrong-doc",
        question="When was the old harbour built?",
        answers=["1850"],
        document="fruit.pdf",
    ),
    EvalQuestion(id="absent", question="Which capital city is Ulaanbaatar?", answers=[]),
]


def _pdfs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_text_pdf(
        folder / "harbour.pdf",
        ["The old harbour was built in 1850.", "The lighthouse keeper was Ada Brook."],
        font="core",
    )
    make_text_pdf(folder / "fruit.pdf", ["Bananas grow in warm places."], font="core")
    return folder


@pytest.fixture
def kb(settings: Settings, tmp_path: Path) -> Iterator[KBQA]:
    settings.llm.backend = "fake"
    with KBQA(settings) as service:
        for pdf in sorted(_pdfs(tmp_path / "pdfs").glob("*.pdf")):
            service.ingest(pdf)
        yield service


def test_scores_worked_out_by_hand(kb: KBQA) -> None:
    config = EvalConfig(["default"], ["zero-shot", "few-shot"], ["hybrid", "bm25"], k=2)
    steps = []
    report = Evaluator(kb, config).run(QUESTIONS, "hand", lambda: steps.append(1))
    assert len(steps) == 4 * (2 + 2)

    for name in ("hybrid", "bm25"):
        r = report.retrieval[name]
        assert r.questions == 3  # the unanswerable question has no retrieval score
        assert r.recall_at_k == pytest.approx(2 / 3)  # "wrong-doc" is a miss
        assert r.page_hit_at_k == 1.0  # both questions with a page find it in the top 2
    by_id = {result.id: result for result in report.results}
    assert by_id["wrong-doc"].ranks["bm25"] is None
    assert by_id["keeper"].ranks["bm25"] == 1

    zero = report.answers["zero-shot"]
    # The quoting model answers with the whole sentence, cited:
    # "The lighthouse keeper was Ada Brook." vs "Ada Brook": P 2/5, R 1 -> F1 4/7;
    # "The old harbour was built in 1850." vs "1850": P 1/6, R 1 -> F1 2/7 (twice).
    assert zero.exact_match == 0.0
    assert zero.f1 == pytest.approx((4 / 7 + 2 / 7 + 2 / 7) / 3)
    assert zero.answered == 1.0
    assert zero.citation_correct == 1.0
    assert (zero.unanswerable, zero.refusal_rate) == (1, 1.0)  # no word in common: refused
    assert by_id["absent"].refused["zero-shot"] is True
    assert by_id["keeper"].citations["zero-shot"] == ["harbour.pdf p. 2"]


def test_retrieval_only_needs_no_chat_model(kb: KBQA) -> None:
    config = EvalConfig(["default"], retrieval=["bm25"], answers=False)
    report = Evaluator(kb, config).run(QUESTIONS, "hand")
    assert report.answers == {}
    assert kb._generator is None  # never started
    # What the model would be shown: each answerable question's excerpts hold its answer
    # ("wrong-doc" too: it names no document, only text), one or two short pages of them.
    assert report.shown is not None
    assert (report.shown.questions, report.shown.recall) == (3, 1.0)
    assert len("The old harbour was built in 1850.") <= report.shown.chars_mean < 200


def test_unknown_retrieval_setup_is_refused() -> None:
    with pytest.raises(ValueError, match="retrieval set-ups must be among"):
        EvalConfig(["default"], retrieval=["hybrid", "psychic"])


@pytest.mark.usefixtures("cli_env")
def test_command_ingests_a_dataset_folder_and_writes_json_and_chart(tmp_path: Path) -> None:
    dataset = tmp_path / "harbour-set"
    _pdfs(dataset / "pdfs")
    lines = [q.model_dump_json() for q in QUESTIONS]
    (dataset / "questions.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"

    args = ["eval", str(dataset), "--out", str(out), "--strategies", "zero-shot", "-k", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Retrieval" in result.stdout
    assert "Answers" in result.stdout
    assert "Shown to the model (hybrid+rerank's top passages" in result.stdout
    report = Report.model_validate(json.loads((out / "report.json").read_text()))
    assert report.collections == ["eval-harbour-set"]
    assert set(report.retrieval) == {"hybrid+rerank", "hybrid", "dense", "bm25"}
    assert report.answers["zero-shot"].refusal_rate == 1.0
    unanswerable = report.answers["zero-shot"].unanswerable
    assert f"{unanswerable} of {unanswerable}" in result.stdout  # refused, as a count
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("cli_env")
def test_command_names_a_bad_argument(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--no-answers"])
    assert result.exit_code == 1
    assert "neither a questions file nor a folder with one" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "q.jsonl"), "--strategies", "guess"])
    assert result.exit_code == 1
    assert "strategies must be among" in " ".join(result.output.split())


def test_shipped_sets_are_well_formed() -> None:
    shipped = Path(__file__).resolve().parents[2] / "evaluation" / "data"
    for name in ("squad-en", "cmrc-zh"):
        questions = load_questions(shipped / name / "questions.jsonl")
        pdfs = {p.name for p in (shipped / name / "pdfs").glob("*.pdf")}
        answerable = [q for q in questions if q.answerable]
        assert answerable
        assert len(answerable) < len(questions)
        assert {q.document for q in answerable} <= pdfs
        assert all(q.page for q in answerable)
