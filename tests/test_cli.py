"""The kbqa command through Typer's runner, on the fake embedder (no model needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.errors import IndexMismatchError
from core.settings import get_settings
from generation.fake import QuotingChatModel
from retrieval.retriever import HybridRetriever
from tests.utils.pdfs import make_corrupt_pdf, make_text_pdf

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fake_embedder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KBQA_EMBEDDING__BACKEND", "fake")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return make_text_pdf(
        tmp_path / "harbour.pdf",
        ["The old harbour was built in 1850.", "The lighthouse keeper was Ada Brook."],
        font="core",
    )


def _json(result) -> object:  # noqa: ANN001
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ingest_search_list_delete(pdf: Path) -> None:
    ingested = _json(runner.invoke(app, ["ingest", str(pdf), "--json"]))
    assert ingested[0]["status"] == "indexed"
    assert ingested[0]["pages"] == 2
    again = _json(runner.invoke(app, ["ingest", str(pdf), "--json"]))
    assert again[0]["status"] == "duplicate"

    found = _json(runner.invoke(app, ["search", "lighthouse keeper", "--json", "-k", "1"]))
    hit = found["hits"][0]  # type: ignore[index]
    assert (hit["filename"], hit["page"]) == ("harbour.pdf", 2)
    assert {"document_id", "score", "text"} <= set(hit)

    docs = _json(runner.invoke(app, ["documents", "--json"]))
    assert [d["filename"] for d in docs] == ["harbour.pdf"]  # type: ignore[union-attr]
    deleted = runner.invoke(app, ["delete", docs[0]["id"][:10]])  # type: ignore[index]
    assert deleted.exit_code == 0, deleted.output
    assert _json(runner.invoke(app, ["documents", "--json"])) == []


def test_bad_file_fails_with_its_reason(tmp_path: Path, pdf: Path) -> None:
    bad = make_corrupt_pdf(tmp_path / "broken.pdf")
    result = runner.invoke(app, ["ingest", str(pdf), str(bad), "--json"])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["indexed", "failed"]
    assert rows[1]["reason"] == "corrupt"


def test_collections_are_kept_apart(pdf: Path) -> None:
    _json(runner.invoke(app, ["ingest", str(pdf), "-c", "ships", "--json"]))
    assert _json(runner.invoke(app, ["search", "harbour", "--json"]))["hits"] == []  # type: ignore[index]
    assert _json(runner.invoke(app, ["search", "harbour", "-c", "ships", "--json"]))["hits"]  # type: ignore[index]


def test_unknown_strategy_is_refused() -> None:
    result = runner.invoke(app, ["ask", "why?", "--strategy", "guess"])
    assert result.exit_code == 1
    assert "strategy must be one of" in result.output


@pytest.fixture
def fake_model_without_gate(monkeypatch: pytest.MonkeyPatch, fake_model: None) -> None:
    """:func:`fake_model` with the evidence gate off: its thresholds are tuned on the dev sets
    (tests/retrieval/test_evidence.py), and the two-sentence PDF is about follow-ups."""
    monkeypatch.setenv("KBQA_RETRIEVAL__MIN_COVERAGE", "0")
    monkeypatch.setenv("KBQA_RETRIEVAL__MIN_MAXSIM", "0")
    get_settings.cache_clear()


@pytest.mark.usefixtures("fake_model_without_gate")
def test_chat_understands_follow_ups_and_says_what_it_searched_for() -> None:
    questions = "When was the Harbour Board founded?\nWho was the keeper of its lighthouse?\n\n"
    result = runner.invoke(app, ["chat"], input=questions)
    assert result.exit_code == 0, result.output
    assert "The old harbour was built in 1850. [1]" in result.stdout
    # "its" read as a thing named before (generation/referents.py): the latest turn, the
    # fake model's answer, names "old harbour", which the hashed fake embedder bears out.
    assert "searched for: Who was the keeper of old harbour's lighthouse?" in result.stdout


@pytest.mark.usefixtures("fake_model_without_gate")
def test_chat_says_which_entity_it_took_a_pronoun_for_when_two_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every reading fits as well as every other: the latest turn's entity is taken, and said.
    monkeypatch.setattr(
        HybridRetriever, "fit", lambda self, queries, *_: ([1.0] * len(queries), 0.05)
    )
    questions = "Did the Brookfield council build the old harbour?\nWho kept its lighthouse?\n\n"
    result = runner.invoke(app, ["chat"], input=questions)
    assert result.exit_code == 0, result.output
    assert "Assuming “" in result.stdout


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch, pdf: Path) -> None:
    """The quoting fake chat model, over the harbour PDF."""
    monkeypatch.setenv("KBQA_LLM__BACKEND", "fake")
    get_settings.cache_clear()
    _json(runner.invoke(app, ["ingest", str(pdf), "--json"]))


GENERATION_OPTIONS = [
    "--temperature", "0.2", "--top-p", "0.9", "--top-k-tokens", "5", "--max-tokens", "40",
    "--repetition-penalty", "1.2", "--stop", "##", "--seed", "3", "--ban", "brook",
]  # fmt: skip


@pytest.mark.usefixtures("fake_model")
@pytest.mark.parametrize("command", ["ask", "chat"])
def test_ask_and_chat_pass_the_generation_options(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    seen: dict = {}
    original = QuotingChatModel._stream

    def spy(self: QuotingChatModel, messages: list, stop: object = None, **kwargs: object):  # noqa: ANN202
        seen.update(kwargs, stop=stop)
        return original(self, messages, stop, **kwargs)

    monkeypatch.setattr(QuotingChatModel, "_stream", spy)
    question = "Who was the lighthouse keeper?"
    if command == "chat":
        chatted = runner.invoke(app, ["chat", *GENERATION_OPTIONS], input=f"{question}\n\n")
        assert chatted.exit_code == 0, chatted.output
    else:
        answer = _json(runner.invoke(app, ["ask", question, "--json", *GENERATION_OPTIONS]))
        assert "Brook" not in answer["answer"]  # type: ignore[index]
        assert answer["guard"]["action"] == "withheld"  # type: ignore[index]
    assert (seen["temperature"], seen["top_p"], seen["seed"]) == (0.2, 0.9, 3)
    assert (seen["max_tokens"], seen["stop"]) == (40, ["##"])
    assert seen["extra_body"]["top_k"] == 5  # type: ignore[index]
    assert seen["extra_body"]["bad_words"] == ["brook", "Brook", "BROOK"]  # type: ignore[index]


@pytest.mark.usefixtures("fake_model")
def test_ask_and_chat_say_when_a_loop_was_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    def loops(self: QuotingChatModel, kwargs: dict) -> bool:
        return (kwargs.get("extra_body") or {}).get("repetition_penalty", 1.0) < 1.3

    monkeypatch.setattr(QuotingChatModel, "_loops", loops)
    asked = runner.invoke(app, ["ask", "Who was the lighthouse keeper?"])
    chatted = runner.invoke(app, ["chat"], input="Who was the lighthouse keeper?\n\n")
    for result in (asked, chatted):
        assert result.exit_code == 0, result.output
        assert "(The model repeated itself; asking again" in result.output
        assert "The model repeated itself (seq-rep-4 0." in result.output
        assert "answered on attempt 2." in result.output
        assert "[1] harbour.pdf, p. 2" in result.output


def test_a_bad_generation_option_is_refused() -> None:
    result = runner.invoke(app, ["ask", "why?", "--top-p", "0"])
    assert result.exit_code == 2
    assert "top_p" in result.output


def test_sigterm_unwinds_like_ctrl_c_so_child_servers_are_stopped(tmp_path: Path) -> None:
    """`docker stop` or `timeout` sends SIGTERM to kbqa alone; the model server it started
    must not outlive it."""
    script = (
        "import subprocess, sys\n"
        "from cli.main import stop_on_sigterm\n"
        "stop_on_sigterm()\n"
        "server = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "try:\n"  # the pid printed inside: SIGTERM can come as soon as it is read
        "    print(server.pid, flush=True)\n"
        "    server.wait()\n"
        "except KeyboardInterrupt:\n"
        "    server.terminate()\n"
        "    server.wait()\n"
        "    sys.exit(130)\n"
    )
    kbqa = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert kbqa.stdout is not None
    server_pid = int(kbqa.stdout.readline())
    kbqa.send_signal(signal.SIGTERM)
    assert kbqa.wait(timeout=30) == 130
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)  # reaped by kbqa: gone, not a zombie left to init


def test_a_changed_embedding_model_asks_for_reindex_which_re_embeds(
    monkeypatch: pytest.MonkeyPatch, pdf: Path
) -> None:
    """An index of the fake model, opened with e5's: refused with a message naming both
    models and the command; `kbqa reindex` re-embeds the stored chunks, and search works."""
    _json(runner.invoke(app, ["ingest", str(pdf), "--json"]))
    monkeypatch.setenv("KBQA_EMBEDDING__BACKEND", "e5")
    monkeypatch.setenv("KBQA_RETRIEVAL__RERANKER", "vectors")
    get_settings.cache_clear()
    refused = runner.invoke(app, ["search", "lighthouse keeper", "--json"])
    assert isinstance(refused.exception, IndexMismatchError)
    for part in ("'fake'", "'multilingual-e5-small-q4'", "kbqa reindex"):
        assert part in str(refused.exception)
    done = runner.invoke(app, ["reindex"])
    assert done.exit_code == 0, done.output
    assert "from 'fake' to 'multilingual-e5-small-q4'" in done.stdout
    found = _json(runner.invoke(app, ["search", "who kept the lighthouse", "--json", "-k", "1"]))
    assert "Ada Brook" in found["hits"][0]["text"]  # type: ignore[index]
    assert runner.invoke(app, ["check"]).exit_code == 0
    assert "nothing to do" in runner.invoke(app, ["reindex"]).stdout
