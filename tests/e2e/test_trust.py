"""Answers a person can trust, with the real models: a deleted document is no longer answered
from, and a refusal speaks the question's language.

A user deleted Rhine.pdf and asked "Where does the Rhine begin?": kbqa answered "France",
citing an unrelated page about pharmacy. With the document gone the question must be refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.i18n import message
from tests.utils.pdfs import make_text_pdf
from tests.utils.servers import run_kbqa as kbqa

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RHINE = [
    "The Rhine is one of the major rivers of Europe. It begins in the Swiss canton of "
    "Graubünden in the southeastern Swiss Alps, at Lake Toma, and flows to the North Sea.",
    "The Rhine flows through Switzerland, Liechtenstein, Austria, Germany, France and the "
    "Netherlands. Its length is about 1,230 kilometres.",
]
PHARMACY = [
    "Pharmacy is the science and practice of preparing and dispensing medicines. Pharmacists "
    "in France train for six years at a university faculty of pharmacy.",
    "A pharmacy in France must be owned by a pharmacist. Prescriptions are checked for "
    "interactions before the medicine is handed over.",
]
QUESTION = "Where does the Rhine begin?"


def ask(question: str, data_dir: Path) -> dict:
    result = kbqa("ask", question, "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trust")
    pdfs = [
        make_text_pdf(root / "Rhine.pdf", RHINE, font="dejavu"),
        make_text_pdf(root / "Pharmacy.pdf", PHARMACY, font="dejavu"),
    ]
    result = kbqa("ingest", *map(str, pdfs), "--json", data_dir=root / "data")
    assert result.returncode == 0, result.stderr
    return root / "data"


def test_a_deleted_document_is_no_longer_answered_from(data_dir: Path) -> None:
    answered = ask(QUESTION, data_dir)
    assert answered["grounded"], answered
    assert {c["filename"] for c in answered["citations"]} == {"Rhine.pdf"}
    listed = kbqa("documents", "--json", data_dir=data_dir)
    rhine = next(d for d in json.loads(listed.stdout) if d["filename"] == "Rhine.pdf")
    assert kbqa("delete", rhine["id"], data_dir=data_dir).returncode == 0
    refused = ask(QUESTION, data_dir)
    assert not refused["grounded"], refused
    assert refused["citations"] == []
    assert refused["answer"] == message("refusal", "en")


def test_a_chinese_question_the_documents_cannot_answer_is_refused_in_chinese(
    data_dir: Path,
) -> None:
    refused = ask("长城有多长？", data_dir)
    assert not refused["grounded"], refused
    assert refused["citations"] == []
    assert refused["answer"] == message("refusal", "zh")
