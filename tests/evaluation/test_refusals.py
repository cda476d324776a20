"""Refusals scored on a two-document set with the fake embedder and the quoting model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from evaluation.dataset import EvalQuestion
from evaluation.refusals import (
    CaseResult,
    RefusalReport,
    build_cases,
    gate_scores,
    half_of,
    held_out_name,
    pick_threshold,
)
from tests.utils.pdfs import make_text_pdf

QUESTIONS = [
    EvalQuestion(
        id="keeper",
        question="Who was the lighthouse keeper?",
        answers=["Ada Brook"],
        document="harbour.pdf",
    ),
    EvalQuestion(
        id="bananas",
        question="Where do bananas grow?",
        answers=["in warm places"],
        document="fruit.pdf",
    ),
    EvalQuestion(id="absent", question="Which capital city is Ulaanbaatar?", answers=[]),
]


def _result(answerable: bool, evidence: float, half: str = "tune") -> CaseResult:
    return CaseResult(
        id="q",
        question="q",
        collection="c",
        answerable=answerable,
        half=half,  # type: ignore[arg-type]
        signal="rerank",
        evidence=evidence,
    )


def test_each_answerable_question_is_also_asked_without_its_document() -> None:
    cases = build_cases(QUESTIONS, "eval-set", ["harbour.pdf", "fruit.pdf"])
    asked = [(c.question.id, c.collection, c.answerable) for c in cases]
    assert asked == [
        ("keeper", "eval-set", True),
        ("keeper", "eval-set-without-harbour", False),
        ("bananas", "eval-set", True),
        ("bananas", "eval-set-without-fruit", False),
        ("absent", "eval-set", False),
    ]
    assert held_out_name("x" * 60, "doc") == ("x" * 60 + "-without-doc")[:64]


def test_halves_are_stable_and_both_used() -> None:
    halves = {half_of(f"question-{n}") for n in range(20)}
    assert halves == {"tune", "test"}
    assert half_of("question-3") == half_of("question-3")


def test_the_picked_threshold_refuses_at_most_the_gate_share_of_the_tune_half() -> None:
    answerable = [_result(True, 0.40 + n / 100) for n in range(40)]  # 0.40 ... 0.79
    unanswerable = [_result(False, 0.30), _result(False, 0.405), _result(False, 0.9)]
    test_half = [_result(True, 0.1, "test")]  # never seen by the picking
    threshold = pick_threshold([*answerable, *unanswerable, *test_half], "rerank")
    assert threshold == 0.41  # 2.5% of 40: one answerable question may fall below
    scores = gate_scores([*answerable, *unanswerable], {"rerank": threshold})
    assert scores.answerable_refused == pytest.approx(1 / 40)
    assert scores.unanswerable_refused == pytest.approx(2 / 3)
    assert pick_threshold(answerable, "coverage") is None


@pytest.mark.usefixtures("cli_env")
def test_command_asks_against_held_out_collections(tmp_path: Path) -> None:
    dataset = tmp_path / "harbour-set"
    (dataset / "pdfs").mkdir(parents=True)
    make_text_pdf(
        dataset / "pdfs" / "harbour.pdf",
        ["The old harbour was built in 1850.", "The lighthouse keeper was Ada Brook."],
        font="core",
    )
    make_text_pdf(dataset / "pdfs" / "fruit.pdf", ["Bananas grow in warm places."], font="core")
    (dataset / "questions.jsonl").write_text("\n".join(q.model_dump_json() for q in QUESTIONS))
    out = tmp_path / "out"

    args = ["eval", str(dataset), "--refusals", "--strategies", "zero-shot", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Refusals" in result.stdout
    report = RefusalReport.model_validate(json.loads((out / "refusals.json").read_text()))
    assert len(report.results) == 5
    by_case = {(r.id, r.collection): r for r in report.results}
    # Answered from the whole collection, refused by the gate without the document: the
    # other document shares none of the question's words.
    assert by_case["keeper", "eval-harbour-set"].refused is False
    assert by_case["keeper", "eval-harbour-set"].f1 == pytest.approx(4 / 7)
    held_out = by_case["keeper", "eval-harbour-set-without-harbour"]
    assert (held_out.refused, held_out.cause) == (True, "evidence")
    assert "Bananas" not in (held_out.answer or "")
    answers = report.answers
    assert sum(s.answerable for s in answers.values()) == 2
    assert sum(s.unanswerable for s in answers.values()) == 3
    for scores in answers.values():
        assert scores.answerable_refused in (None, 0.0)
        assert scores.unanswerable_refused in (None, 1.0)


@pytest.mark.usefixtures("cli_env")
def test_refusals_need_the_dataset_pdfs(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(QUESTIONS[0].model_dump_json())
    result = CliRunner().invoke(app, ["eval", str(questions), "--refusals", "--no-answers"])
    assert result.exit_code == 1
    assert "needs a dataset folder with pdfs/" in " ".join(result.output.split())
