"""A day of use in a few minutes: many distinct questions through `/ask` on one `kbqa serve`,
with the real models, and the server's memory stays flat.

The prompt cache of llama-cpp-python once grew by a copy of the logits for every prompt it
kept, about 240 MB a question, until the machine ran out of memory; this is the test that
would have caught it. Answers are kept short (max_tokens) and prompts small (two excerpt
sentences): what grows with use is the same, and the run takes a few minutes on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.load import tree_rss_mib
from generation.server import free_port
from tests.utils.servers import wait_until_up

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "evaluation" / "data" / "squad-en"
QUESTIONS = 55
WARM = 10  # memory after this many questions is the baseline
GROWTH = 1.25  # most the memory may grow from then to the last question


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen]]:
    root = tmp_path_factory.mktemp("soak")
    port = free_port()
    env = {
        **os.environ,
        "KBQA_DATA_DIR": str(root / "data"),
        "KBQA_API__KEYS": "[]",
        "KBQA_RETRIEVAL__EXCERPT_SENTENCES": "2",
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [sys.executable, "-c", "from cli.main import main; main()", "serve", "--no-ui"]
    cmd += ["--port", str(port)]
    log = (root / "serve.log").open("wb")
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process=process, log=root / "serve.log")
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _upload(api: httpx.Client, path: Path) -> None:
    files = [("files", (path.name, path.read_bytes(), "application/pdf"))]
    response = api.post("/documents", files=files)
    assert response.status_code == 202, response.text
    (job,) = response.json()["jobs"]
    for _ in range(3000):
        job = api.get(f"/jobs/{job['id']}").json()
        if job["finished_at"]:
            break
        time.sleep(0.2)
    assert job["state"] == "succeeded", job


def test_memory_stays_flat_over_many_distinct_questions(
    server: tuple[str, subprocess.Popen],
) -> None:
    url, process = server
    lines = (DATASET / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    assert len(set(questions[:QUESTIONS])) == QUESTIONS  # distinct, as users ask them
    with httpx.Client(base_url=url, timeout=300) as api:
        for pdf in sorted((DATASET / "pdfs").glob("*.pdf")):
            _upload(api, pdf)
        rss: list[float] = []
        for question in questions[:QUESTIONS]:
            response = api.post("/ask", json={"question": question, "max_tokens": 12})
            assert response.status_code == 200, response.text
            rss.append(tree_rss_mib(process.pid))
    baseline, last = rss[WARM - 1], rss[-1]
    trace = ", ".join(f"{i + 1}: {mib:.0f}" for i, mib in enumerate(rss) if (i + 1) % 5 == 0)
    print(f"RSS of kbqa serve and its children, MiB after each 5th question: {trace}")
    assert last <= GROWTH * baseline, (
        f"memory grew from {baseline:.0f} MiB after question {WARM} to {last:.0f} MiB after "
        f"question {QUESTIONS}: {trace}"
    )
