"""A client that stops reading an answer stops the model: generation ends on the server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from core.types import Stage
from generation.fake import QuotingChatModel
from tests.api.conftest import KEY, REPORT, pdf
from tests.ui.conftest import live_api  # noqa: F401 - a real server on a thread of this process
from ui.client import ApiClient

QUESTION = "Who was the engineer in charge of the works?"


@pytest.fixture
def endless(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A model that would write for minutes: how many words it wrote, and whether it was
    stopped (``ended``)."""
    state: dict[str, Any] = {"sent": 0, "ended": threading.Event()}

    def words(self: QuotingChatModel, *args: Any, **kwargs: Any) -> Iterator[Any]:
        from langchain_core.messages import AIMessageChunk
        from langchain_core.outputs import ChatGenerationChunk

        try:
            for i in range(10_000):
                state["sent"] += 1
                yield ChatGenerationChunk(message=AIMessageChunk(content=f"word{i} "))
                time.sleep(0.01)
        finally:
            state["ended"].set()

    monkeypatch.setattr(QuotingChatModel, "_stream", words)
    return state


def _loaded(url: str) -> httpx.Client:
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    files = [("files", ("report.pdf", pdf(REPORT), "application/pdf"))]
    job = http.post("/documents", files=files).json()["jobs"][0]
    while http.get(f"/jobs/{job['id']}").json()["finished_at"] is None:
        time.sleep(0.05)
    return http


def _stopped(state: dict[str, Any]) -> None:
    assert state["ended"].wait(10), "the model was still asked for words after the client left"
    stopped_at = state["sent"]
    time.sleep(0.3)
    assert state["sent"] == stopped_at < 1000


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/ask", {"question": QUESTION, "stream": True, "stages": True}),
        ("/ask", {"question": QUESTION, "stream": True}),
        ("/v1/chat/completions",
         {"model": "kbqa", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}),
    ],
)  # fmt: skip
def test_closing_the_stream_ends_generation_on_the_server(
    live_api: str,  # noqa: F811
    endless: dict[str, Any],
    path: str,
    body: dict[str, Any],
) -> None:
    with closing(_loaded(live_api)) as http, http.stream("POST", path, json=body) as response:
        for events, _ in enumerate(response.iter_lines()):
            if events == 20:
                break  # the person pressed Stop, or closed the tab
    _stopped(endless)


def test_the_uis_client_stops_the_model_when_it_stops_reading(
    live_api: str,  # noqa: F811
    endless: dict[str, Any],
) -> None:
    _loaded(live_api).close()
    stream = ApiClient(live_api, KEY).ask_stream({"question": QUESTION})
    pieces = [item for item, _ in zip(stream, range(8), strict=False)]
    assert isinstance(pieces[0], Stage)
    assert any(isinstance(p, str) for p in pieces)
    stream.close()  # what a Stop press does to the loop that reads it
    _stopped(endless)
