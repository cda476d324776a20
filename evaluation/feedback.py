"""Feedback on answers (``POST /feedback``) as a question set for ``kbqa eval``.

A thumbs-up is a question with a known good answer, its document and page: a test that the
answer stays good. A thumbs-down says the answer was wrong but not what is right, so it is no
test yet: it goes to a review file, for a person to write the answer (as ``answers``) and move
it into the question set.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from core.files import write_atomically
from core.records import Feedback
from evaluation.dataset import EvalQuestion


def as_question(feedback: Feedback) -> EvalQuestion:
    """A thumbs-up as a question whose answer and first cited page are the gold ones."""
    first = feedback.citations[0] if feedback.citations else None
    return EvalQuestion(
        id=f"feedback-{feedback.id}",
        question=feedback.question,
        answers=[feedback.answer],
        document=first.filename if first else None,
        page=first.page if first else None,
    )


def for_review(feedback: Feedback) -> dict[str, object]:
    """A thumbs-down as a record to complete: ``answers`` is for the person to fill in."""
    return {
        "id": f"feedback-{feedback.id}",
        "question": feedback.question,
        "answers": [],
        "rejected_answer": feedback.answer,
        "comment": feedback.comment,
        "cited": [f"{c.filename} p. {c.page}" for c in feedback.citations],
    }


def _write_lines(path: Path, records: Iterable[dict[str, object]]) -> int:
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, "".join(f"{line}\n" for line in lines).encode())
    return len(lines)


def export_feedback(
    feedback: Iterable[Feedback], questions: Path, review: Path | None = None
) -> tuple[int, int]:
    """Write the thumbs-up to ``questions`` (the JSON lines ``kbqa eval`` reads) and, with
    ``review``, the thumbs-down there; returns how many of each were written. The newest
    feedback on a question wins."""
    latest: dict[str, Feedback] = {}
    for item in sorted(feedback, key=lambda f: f.created_at):
        latest[item.question] = item
    ups = [
        as_question(f).model_dump(exclude_none=True) for f in latest.values() if f.rating == "up"
    ]
    downs = [for_review(f) for f in latest.values() if f.rating == "down"]
    written = _write_lines(questions, ups)
    return written, _write_lines(review, downs) if review is not None else 0
