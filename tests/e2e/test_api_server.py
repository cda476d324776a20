"""The API for real: `kbqa serve` as its own process, the packaged models, real HTTP.

Upload a PDF, poll its job, ask, stream an answer over SSE, ask through the `openai` client,
then Ctrl-C: the server and its chat model server both stop.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.test_end_to_end import PAGES
from tests.utils.pdfs import text_pdf_bytes
from tests.utils.servers import kbqa_serve, upload

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
KEY = "e2e-key-0123456789abcdef"
QUESTION = "In which year was the Elmstead reservoir completed?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen]]:
    env = {"KBQA_API__KEYS": json.dumps([KEY])}
    with kbqa_serve(tmp_path_factory.mktemp("api"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: tuple[str, subprocess.Popen]) -> Iterator[httpx.Client]:
    url, _ = server
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=300) as c:
        yield c


@pytest.fixture(scope="module")
def uploaded(api: httpx.Client) -> dict:
    return upload(api, "water-board.pdf", text_pdf_bytes(PAGES), timeout=120)


def test_upload_poll_and_ask(api: httpx.Client, uploaded: dict) -> None:
    assert uploaded["pages_parsed"] == 3
    assert uploaded["chunks_embedded"] == uploaded["chunks_total"]
    answer = api.post("/ask", json={"question": QUESTION}).json()
    assert "1887" in answer["answer"], answer
    citation = answer["citations"][0]
    assert (citation["filename"], citation["page"]) == ("water-board.pdf", 2)
    assert (
        api.post("/ask", json={"question": QUESTION}, headers={"Authorization": ""}).status_code
        == 401
    )


def test_stream_over_sse(api: httpx.Client, uploaded: dict) -> None:
    events = []
    with api.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((event, json.loads(line.removeprefix("data: "))))
    tokens = [data["text"] for event, data in events if event == "token"]
    assert len(tokens) > 1
    final_event, answer = events[-1]
    assert final_event == "answer"
    assert "1887" in "".join(tokens)
    assert answer["citations"][0]["page"] == 2


def test_openai_client(server: tuple[str, subprocess.Popen], uploaded: dict) -> None:
    client = openai.OpenAI(base_url=f"{server[0]}/v1", api_key=KEY)
    completion = client.chat.completions.create(
        model="kbqa", messages=[{"role": "user", "content": QUESTION}]
    )
    content = completion.choices[0].message.content or ""
    assert "1887" in content
    assert "water-board.pdf, p. 2" in content
    assert completion.model_extra["citations"][0]["page"] == 2  # type: ignore[index]
    chunks = list(
        client.chat.completions.create(
            model="kbqa", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    assert "1887" in "".join(c.choices[0].delta.content or "" for c in chunks)


def test_a_follow_up_is_rewritten_by_the_real_model(api: httpx.Client, uploaded: dict) -> None:
    history = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "In 1887 [1]."},
    ]
    body = {"question": "And who was its engineer?", "history": history}
    answer = api.post("/ask", json=body).json()
    # Rewritten by the model (the fallback would join both questions with a line break).
    assert "Elmstead" in answer["search_query"], answer["search_query"]
    assert "engineer" in answer["search_query"]
    assert "\n" not in answer["search_query"]
    assert answer["citations"][0]["page"] == 2, answer
    assert "rewrite" in answer["timings"]


def test_ctrl_c_stops_the_api_and_the_model_server(
    server: tuple[str, subprocess.Popen], uploaded: dict
) -> None:
    url, process = server
    children = {pid: _command(pid) for pid in _children(process.pid)}
    assert any("generation.llama_server" in c for c in children.values()), children
    assert any("streamlit" in c for c in children.values()), children
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    # Helpers such as multiprocessing's resource tracker exit when they see their parent
    # gone, a moment after it: give every child a few seconds, no more.
    deadline = time.monotonic() + 10
    running = dict(children)
    while running and time.monotonic() < deadline:
        running = {
            p: c for p, c in running.items() if Path(f"/proc/{p}").exists() and not _is_zombie(p)
        }
        time.sleep(0.1)
    assert not running, f"still running after kbqa serve stopped: {running}"


def _command(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(parent: int) -> list[str]:
    """Pids whose parent is ``parent``, from /proc (no procps needed)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if fields[1] == str(parent):
            pids.append(stat.parent.name)
    return pids


def _is_zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:  # gone meanwhile
        return True
