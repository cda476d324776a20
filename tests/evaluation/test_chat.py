"""`kbqa eval --chat`: conversations built from a question set, and scored against the same
questions asked alone, on the fake embedder and the quoting model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings, get_settings
from evaluation.chat import ChatEvaluator, build_cases
from evaluation.dataset import EvalQuestion
from evaluation.subjects import shared_subject, with_pronoun
from kbqa.app import KBQA
from tests.utils.pdfs import make_text_pdf

QUESTIONS = [
    EvalQuestion(
        id="built", question="When was Brookhaven built?", answers=["1850"], document="port.pdf"
    ),
    EvalQuestion(
        id="keeper",
        question="Who was the lighthouse keeper of Brookhaven?",
        answers=["Ada Brook"],
        document="port.pdf",
    ),
    EvalQuestion(
        id="fruit",
        question="Which fruit grows in warm places?",
        answers=["Bananas"],
        document="fruit.pdf",
    ),
    EvalQuestion(id="absent", question="Which capital city is Ulaanbaatar?", answers=[]),
]


@pytest.mark.parametrize(
    ("question", "other", "title", "subject", "asked"),
    [
        (
            "At what temperature will oxygen condense?",
            "How much of the atmosphere is oxygen?",
            "Oxygen",
            "oxygen",
            "At what temperature will it condense?",
        ),
        (
            "What is the name of the university's summer festival?",
            "Where is the university?",
            "University of Chicago",
            "university",
            "What is the name of its summer festival?",
        ),
        (
            "In the US, who decides on the requirements for teachers?",
            "Who may teachers ignore?",
            "Teacher",
            "teachers",
            "In the US, who decides on the requirements for them?",
        ),
        (  # a name shared, no title needed
            "Who was the engineer of Elmstead's dam?",
            "When was Elmstead founded?",
            None,
            "Elmstead",
            "Who was the engineer of its dam?",
        ),
        (
            "印度野驴栖息在哪儿？",
            "印度野驴最高每小时可跑多少公里？",
            None,
            "印度野驴",
            "它栖息在哪儿？",
        ),
    ],
)
def test_a_follow_up_replaces_the_shared_subject_with_a_pronoun(
    question: str, other: str, title: str | None, subject: str, asked: str
) -> None:
    assert shared_subject(question, other, title) == subject
    assert with_pronoun(question, subject) == asked


@pytest.mark.parametrize(
    ("question", "other", "title"),
    [
        # An adjective, a verb, a noun qualifying another: nothing a pronoun stands for.
        ("Of what is ozone a reactive part?", "Against what does reactive oxygen act?", None),
        ("What does the electrolysis of water produce?", "What will a sieve produce?", None),
        ("What is the type of oxygen production?", "Where is oxygen made?", "Oxygen"),
        ("What is the name of the winter festival?", "What is the summer festival?", None),
        (  # the first question is about the press: "its festival" would be the press's
            "What is the name of the university's summer festival?",
            "What is the largest university press?",
            "University of Chicago",
        ),
        ("九州征伐中，战术导致了什么后果？", "导致了本次事故的原因有哪些？", None),
        ("莎莉公司初时主要售卖什么？", "泰森食品公司斥资多少钱？", None),
    ],
)
def test_no_subject_where_none_is_shared(question: str, other: str, title: str | None) -> None:
    assert shared_subject(question, other, title) is None


def test_cases_of_both_kinds_from_a_question_set() -> None:
    cases = build_cases(QUESTIONS, None)
    unrelated = [c for c in cases if c.kind == "unrelated"]
    follow_ups = [c for c in cases if c.kind == "follow-up"]
    assert len(unrelated) == 3  # every answerable question, after one of another document
    assert all(c.first.document != c.second.document for c in unrelated)
    assert all(c.asked == c.second.question for c in unrelated)
    assert {(c.second.id, c.asked) for c in follow_ups} == {
        ("keeper", "Who was the lighthouse keeper of it?"),
        ("built", "When was it built?"),
    }
    assert len(build_cases(QUESTIONS, 1)) == 3  # one of each kind the set makes: no ellipsis
    two_turns = [c for c in cases if c.kind == "two-turns"]
    assert [c.earlier[1].id for c in two_turns] == ["fruit", "fruit"]  # the unrelated between
    assert build_cases(QUESTIONS, 1, seed=3) == build_cases(QUESTIONS, 1, seed=3)


@pytest.fixture
def kb(settings: Settings, tmp_path: Path) -> Iterator[KBQA]:
    settings.llm.backend = "fake"
    with KBQA(settings) as service:
        for pdf in sorted(_pdfs(tmp_path / "pdfs").glob("*.pdf")):
            service.ingest(pdf)
        yield service


def _pdfs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_text_pdf(
        folder / "port.pdf",
        ["Brookhaven was built in 1850.", "The lighthouse keeper of Brookhaven was Ada Brook."],
        font="core",
    )
    make_text_pdf(folder / "fruit.pdf", ["Bananas are the fruit that grows in warm places."])
    return folder


def test_a_second_question_fares_as_well_in_a_conversation_as_alone(kb: KBQA) -> None:
    cases = build_cases(QUESTIONS, None)
    evaluator = ChatEvaluator(kb, ["default"], "zero-shot")
    steps: list[int] = []
    report = evaluator.run(cases, "hand", lambda: steps.append(1))
    assert len(steps) == evaluator.steps(cases) == 3 + len(cases)  # each alone answer once
    unrelated, follow_up = report.scores["unrelated"], report.scores["follow-up"]
    assert unrelated.conversations == 3
    assert unrelated.f1_alone > 0.2  # the quoting model answers with a whole sentence
    assert unrelated.ratio == pytest.approx(1.0)
    assert follow_up.conversations == 2
    assert follow_up.ratio == pytest.approx(1.0)
    assert report.scores["two-turns"].ratio == pytest.approx(1.0)  # past the unrelated one
    for result in report.results:
        if result.kind == "unrelated":  # searched as itself, not glued to the first question
            assert result.searched == result.second
        else:  # read as one question that stands alone, "it" as a thing of the first one
            assert "\n" not in result.searched  # not the fallback: the question before, glued
            assert "it" not in result.searched.split()
            assert "fruit" not in result.searched  # not the unrelated question between


def test_eval_chat_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBQA_EMBEDDING__BACKEND", "fake")
    monkeypatch.setenv("KBQA_LLM__BACKEND", "fake")
    get_settings.cache_clear()
    folder = tmp_path / "set"
    _pdfs(folder / "pdfs")
    lines = [q.model_dump_json() for q in QUESTIONS]
    (folder / "questions.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", str(folder), "--chat", "--out", str(out)])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "follow-up" in result.output
    report = json.loads((out / "chat.json").read_text())
    assert set(report["scores"]) == {"unrelated", "follow-up", "two-turns"}
    assert report["scores"]["unrelated"]["ratio"] == pytest.approx(1.0)
