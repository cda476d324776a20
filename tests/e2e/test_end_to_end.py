"""A user's path, for real: the kbqa command, the packaged MiniLM, the embedded llama.cpp server.

Slow (model loads, about a minute in all), so marked e2e; `make test` runs it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.utils.pdfs import make_text_pdf
from tests.utils.servers import run_kbqa as kbqa

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES = [
    "Annual report of the Brookfield Water Board. "
    "The board manages two reservoirs and a treatment works.",
    "The Elmstead reservoir was completed in 1887. Its dam is 41 metres high and it holds "
    "12 million cubic metres of water. The engineer in charge of the works was Margaret Quill.",
    "Water quality is tested every day at the treatment works. Results are published each month.",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    pdf = make_text_pdf(root / "water-board.pdf", PAGES, font="dejavu")
    result = kbqa("ingest", str(pdf), "--json", data_dir=root / "data")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["pages"] == 3
    return root / "data"


def test_search_finds_the_page(data_dir: Path) -> None:
    result = kbqa(
        "search", "Who was the engineer of the reservoir works?", "--json", data_dir=data_dir
    )
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)["hits"][0]
    assert (top["filename"], top["page"]) == ("water-board.pdf", 2)
    assert "rerank" in top["scores"]


def test_ask_gives_a_cited_answer_from_the_real_model(data_dir: Path) -> None:
    result = kbqa(
        "ask", "In which year was the Elmstead reservoir completed?", "--json", data_dir=data_dir
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert "1887" in answer["answer"]
    assert answer["grounded"]
    assert answer["citations"], answer
    assert (answer["citations"][0]["filename"], answer["citations"][0]["page"]) == (
        "water-board.pdf",
        2,
    )
    assert {"embed", "retrieval", "generation", "total"} <= set(answer["timings"])


def test_question_not_in_the_documents_is_refused(data_dir: Path) -> None:
    result = kbqa("ask", "What is the capital city of Australia?", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert not answer["grounded"], answer
    assert answer["citations"] == []


def test_the_generation_options_reach_llama_cpp(data_dir: Path) -> None:
    result = kbqa(
        "ask", "How high is the dam?", "--json",
        "--temperature", "0.5", "--top-p", "0.9", "--top-k-tokens", "20", "--max-tokens", "60",
        "--repetition-penalty", "1.2", "--stop", "##", "--seed", "3",
        data_dir=data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"]


def test_a_banned_word_never_comes_back_from_the_real_model(data_dir: Path) -> None:
    # The logit bias turns "Margaret Quill" into "Margaret [1]" on Qwen2.5-0.5B, and into
    # "Margaret.Quillin" on the 1.5B; whatever the model does, the text check keeps the word
    # out, whole, as it bans it (a longer word of the model's making is another word).
    result = kbqa(
        "ask", "Who was the engineer in charge of the works?", "--json", "--ban", "Quill",
        data_dir=data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert not re.search(r"(?<!\w)quill(?!\w)", f"{answer['answer']} {answer['reasoning']}", re.I)
    if answer["guard"] is not None:
        assert answer["guard"]["events"][0]["word"] == "Quill"
