"""Question files: our JSON lines, SQuAD v1/v2 JSON, clear errors, proportional samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InvalidRequestError
from evaluation.dataset import EvalQuestion, load_questions, sample


def _jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_jsonl_with_documents_pages_and_unanswerable(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "q.jsonl",
        [
            {"id": "a", "question": "When?", "answers": ["1887"], "document": "x.pdf", "page": 2},
            {"question": "Who?", "answers": []},
        ],
    )
    first, second = load_questions(path)
    assert (first.document, first.page, first.answerable) == ("x.pdf", 2, True)
    assert (second.id, second.answerable) == ("2", False)  # id defaults to the line number


def test_squad_json_is_read_directly(tmp_path: Path) -> None:
    squad = {
        "version": "v2.0",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "...",
                        "qas": [
                            {
                                "id": "1",
                                "question": "Q1",
                                "answers": [{"text": "A", "answer_start": 0}] * 2,
                            },
                            {"id": "2", "question": "Q2", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad))
    questions = load_questions(path)
    assert [(q.id, q.answers, q.document) for q in questions] == [
        ("1", ["A"], None),
        ("2", [], None),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"question": "ok"}\n{"question": ""}\n', "bad.jsonl:2"),
        ("bad2.jsonl", "not json\n", "bad2.jsonl:1"),
        ("empty.jsonl", "\n", "holds no questions"),
        ("notsquad.json", '{"questions": []}', "no top-level 'data' list"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidRequestError, match=message):
        load_questions(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="no questions file"):
        load_questions(tmp_path / "nope.jsonl")


def test_sample_keeps_unanswerable_questions_in_proportion() -> None:
    questions = [
        EvalQuestion(id=str(i), question="q", answers=["a"] if i % 5 else []) for i in range(100)
    ]
    chosen = sample(questions, 10, seed=3)
    assert len(chosen) == 10
    assert sum(not q.answerable for q in chosen) == 2
    assert [int(q.id) for q in chosen] == sorted(int(q.id) for q in chosen)  # file order kept
    assert sample(questions, 10, seed=3) == chosen
    assert sample(questions, None) is questions
