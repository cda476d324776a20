"""A day of use in a few minutes: many distinct questions through `/ask` on one `kbqa serve`,
with the real models, and the server's memory stays flat.

The prompt cache of llama-cpp-python once grew by a copy of the logits for every prompt it
kept, about 240 MB a question, until the machine ran out of memory; this is the test that
would have caught it. Answers are kept short (max_tokens) and prompts small (two excerpt
sentences): what grows with use is the same, and the run takes a few minutes on two cores.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.load import tree_rss_mib
from tests.utils.servers import kbqa_serve, upload

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "evaluation" / "data" / "squad-en"
QUESTIONS = 55
WARM = 10  # memory after this many questions is the baseline
GROWTH = 1.25  # most the memory may grow from then to the last question


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen]]:
    env = {"KBQA_API__KEYS": "[]", "KBQA_RETRIEVAL__EXCERPT_SENTENCES": "2"}
    with kbqa_serve(tmp_path_factory.mktemp("soak"), "--no-ui", env=env) as running:
        yield running


def test_memory_stays_flat_over_many_distinct_questions(
    server: tuple[str, subprocess.Popen],
) -> None:
    url, process = server
    lines = (DATASET / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    assert len(set(questions[:QUESTIONS])) == QUESTIONS  # distinct, as users ask them
    with httpx.Client(base_url=url, timeout=300) as api:
        for pdf in sorted((DATASET / "pdfs").glob("*.pdf")):
            upload(api, pdf.name, pdf.read_bytes())
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
