"""Question sets: JSON lines of our own, or SQuAD-format JSON read as it is."""

from __future__ import annotations

import json
import random
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import InvalidRequestError


class EvalQuestion(BaseModel):
    """One question. No answers means the collection does not hold one: it should be refused."""

    model_config = ConfigDict(extra="ignore")

    id: str
    question: str = Field(min_length=1)
    answers: list[str] = Field(default_factory=list)
    document: str | None = Field(None, description="File name of the document with the answer.")
    page: int | None = Field(None, ge=1, description="1-based page of the answer.")

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a questions file; a ``.json`` file with a ``data`` list is taken as SQuAD format.

    Raises:
        InvalidRequestError: the file is missing, empty or has a bad record (named by line).
    """
    if not path.is_file():
        raise InvalidRequestError(f"no questions file at {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise InvalidRequestError(f"{path} is not SQuAD format: no top-level 'data' list")
        questions = list(_squad_questions(data["data"]))
    else:
        questions = [
            _parse(line, f"{path}:{number}")
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    if not questions:
        raise InvalidRequestError(f"{path} holds no questions")
    return questions


def _parse(line: str, where: str) -> EvalQuestion:
    try:
        record = json.loads(line)
        if isinstance(record, dict):
            record.setdefault("id", where.rsplit(":", 1)[1])
        return EvalQuestion.model_validate(record)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidRequestError(f"{where}: bad question record: {exc}") from exc


def _squad_questions(articles: list[dict]) -> list[EvalQuestion]:
    """SQuAD v1.1 / v2.0 / CMRC 2018: the document is not known, so no gold document or page."""
    out = []
    for article in articles:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                golds = list(dict.fromkeys(a["text"] for a in answers if a.get("text")))
                out.append(EvalQuestion(id=str(qa["id"]), question=qa["question"], answers=golds))
    return out


def sample(questions: list[EvalQuestion], n: int | None, seed: int = 0) -> list[EvalQuestion]:
    """``n`` questions drawn at random (seeded), keeping the file's order; all when n is None.

    Answerable and unanswerable questions are drawn in proportion, so a small sample still
    measures refusals.
    """
    if n is None or n >= len(questions):
        return questions
    rng = random.Random(seed)
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    n_unanswerable = round(n * len(unanswerable) / len(questions))
    if unanswerable and n > 1:
        n_unanswerable = max(n_unanswerable, 1)
    chosen = set(map(id, rng.sample(unanswerable, n_unanswerable)))
    chosen |= set(map(id, rng.sample(answerable, min(n - n_unanswerable, len(answerable)))))
    return [q for q in questions if id(q) in chosen]
