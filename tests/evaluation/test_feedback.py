"""Feedback exported as a question set: ``kbqa eval`` reads the thumbs-up back as questions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.records import Feedback
from core.settings import get_settings
from core.types import Citation
from evaluation.dataset import load_questions
from evaluation.feedback import export_feedback
from kbqa.app import KBQA

CITED = Citation(
    n=1, document_id="d", collection="default", filename="board.pdf", page=2, page_end=2,
    text="completed in 1887", score=1.0,
)  # fmt: skip
START = datetime(2026, 1, 1, tzinfo=UTC)


def _given(n: int, rating: str, question: str, answer: str) -> Feedback:
    return Feedback(
        id=f"f{n}", rating=rating, question=question, answer=answer, citations=[CITED],
        comment="wrong year" if rating == "down" else "", created_at=START + timedelta(minutes=n),
    )  # fmt: skip


def test_thumbs_up_become_questions_and_thumbs_down_a_review(tmp_path: Path) -> None:
    given = [
        _given(0, "up", "When was it completed?", "In 1887 [1]."),
        _given(1, "down", "Who was the engineer?", "Ada Brook [1]."),
        _given(2, "down", "How high is the dam?", "12 metres."),
        _given(3, "up", "How high is the dam?", "41 metres [1]."),  # later: it wins
    ]
    ups, downs = export_feedback(given, tmp_path / "q.jsonl", tmp_path / "review.jsonl")
    assert (ups, downs) == (2, 1)
    questions = load_questions(tmp_path / "q.jsonl")
    assert [(q.question, q.answers, q.document, q.page) for q in questions] == [
        ("When was it completed?", ["In 1887 [1]."], "board.pdf", 2),
        ("How high is the dam?", ["41 metres [1]."], "board.pdf", 2),
    ]
    review = (tmp_path / "review.jsonl").read_text()
    assert "Who was the engineer?" in review
    assert "wrong year" in review


def test_kbqa_feedback_export_reads_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KBQA_EMBEDDING__BACKEND", "fake")
    get_settings.cache_clear()
    try:
        with KBQA() as kb:
            kb.add_feedback("up", "When was it completed?", "In 1887.", [CITED])
        result = CliRunner().invoke(app, ["feedback", "export", str(tmp_path / "q.jsonl")])
        assert result.exit_code == 0, result.output
        assert "wrote 1 questions" in result.output
        (question,) = load_questions(tmp_path / "q.jsonl")
        assert question.answers == ["In 1887."]
    finally:
        get_settings.cache_clear()
