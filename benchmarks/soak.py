"""``python -m benchmarks soak`` (``kbqa bench soak``): a day of questions on one server, and its
memory per process as they come.

It starts ``kbqa``'s API with the real models over a fresh data folder, uploads SQuAD articles
that kbqa's thresholds were never tuned on (the shipped dev set's three are left out) as text
files, and asks distinct questions of them through ``/ask``, one after another. Every
``--every`` questions it prints the resident memory of each process (the API, the chat model's
server, the parser's workers), and at the end the growth of the whole tree from the 10th
question to the last: flat memory is a ratio near 1. ``tests/e2e/test_soak.py`` runs 100 of
them and bounds it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import httpx
import numpy as np
import typer

from benchmarks.console import out
from benchmarks.load import Server, _rss_kib, _tree

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT / "benchmarks" / "data" / "squad-v1.1-dev-half-a.json"
TUNED_ON = ROOT / "evaluation" / "data" / "squad-en" / "pdfs"  # the dev set's articles
WARM = 10  # memory after this many questions is the baseline
PER_ARTICLE = 25  # questions of one article, so that a run reads many documents


def soak_corpus(questions: int) -> tuple[dict[str, str], list[str]]:
    """Articles as text files (name -> text) and ``questions`` distinct questions of them,
    taken article by article (:data:`PER_ARTICLE` at most each, then again from the first)
    from the SQuAD half the dev set was not tuned on."""
    tuned = {p.stem for p in TUNED_ON.glob("*.pdf")}
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    articles = [a for a in data if a["title"] not in tuned]
    pools = [
        list(dict.fromkeys(qa["question"].strip() for p in a["paragraphs"] for qa in p["qas"]))
        for a in articles
    ]
    asked: list[str] = []
    for start in range(0, max(map(len, pools)), PER_ARTICLE):
        for article, pool in zip(articles, pools, strict=True):
            asked += pool[start : start + PER_ARTICLE]
            if len(asked) >= questions:
                used = articles[: articles.index(article) + 1] if start == 0 else articles
                files = {
                    f"{a['title']}.txt": "\n\n".join(p["context"] for p in a["paragraphs"])
                    for a in used
                }
                return files, asked[:questions]
    raise ValueError(f"the set holds {len(asked)} distinct questions, fewer than {questions}")


def process_label(pid: int) -> str:
    """What a process of the server's tree is, from its command line."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    if "generation.llama_server" in command:
        return "llama.cpp"
    if "vllm" in command:
        return "vllm"
    if "multiprocessing" in command or "pebble" in command:
        return "parser"
    if any(name in command for name in ("uvicorn", "kbqa", "cli.main", "api.app")):
        return "api"
    return command.split(" ", 1)[0].rsplit("/", 1)[-1] or str(pid)


def rss_by_process(pid: int) -> dict[str, float]:
    """Resident MiB of the server's tree, summed by :func:`process_label`."""
    found: dict[str, float] = defaultdict(float)
    for child in _tree(pid):
        found[process_label(child)] += _rss_kib(child) / 1024
    return dict(found)


def soak(
    questions: Annotated[int, typer.Option(min=WARM + 1, help="Distinct questions asked.")] = 500,
    every: Annotated[int, typer.Option(min=1, help="Questions between memory lines.")] = 10,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens per answer.")] = 64,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the trace here.")] = None,
) -> None:
    """Memory of each server process over many distinct questions, real models."""
    files, asked = soak_corpus(questions)
    server = Server(fake=False, key=None)
    trace: list[dict[str, float]] = []
    seconds: list[float] = []  # each /ask, as its caller waited for it
    try:
        with httpx.Client(base_url=server.url, timeout=600) as api:
            _healthy(api, server)
            for name, text in files.items():
                job = api.post("/documents", files={"files": (name, text.encode())}).json()
                _wait(api, [j["id"] for j in job["jobs"]])
            started = time.perf_counter()
            for n, question in enumerate(asked, start=1):
                sent = time.perf_counter()
                reply = api.post("/ask", json={"question": question, "max_tokens": max_tokens})
                reply.raise_for_status()
                seconds.append(time.perf_counter() - sent)
                if n % every == 0 or n in (WARM, len(asked)):
                    trace.append({"question": n, **rss_by_process(server.pid)})
                    row = trace[-1]
                    parts = "  ".join(f"{k} {v:,.0f}" for k, v in row.items() if k != "question")
                    out.print(
                        f"after {n:>4} questions ({time.perf_counter() - started:,.0f} s): "
                        f"{parts}  MiB"
                    )
    finally:
        server.stop()
    total = [sum(v for k, v in row.items() if k != "question") for row in trace]
    warm = next(t for row, t in zip(trace, total, strict=True) if row["question"] == WARM)
    out.print(
        f"whole tree: {warm:,.0f} MiB after question {WARM}, {total[-1]:,.0f} MiB after "
        f"question {len(asked)}: {total[-1] / warm:.3f}x"
    )
    p50, p90 = np.percentile(seconds, [50, 90])
    out.print(f"/ask: p50 {p50:.2f} s, p90 {p90:.2f} s over {len(seconds)} questions")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(trace, indent=2))


def _healthy(api: httpx.Client, server: Server, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.exited():
            raise RuntimeError(f"the server exited:\n{server.log_tail()}")
        try:
            if api.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise TimeoutError(f"no /health after {timeout_s:.0f} s:\n{server.log_tail()}")


def _wait(api: httpx.Client, job_ids: list[str], timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    for job_id in job_ids:
        while (job := api.get(f"/jobs/{job_id}").json())["finished_at"] is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout_s:.0f} s")
            time.sleep(0.5)
        if job["state"] != "succeeded":
            raise RuntimeError(f"job {job_id} ended {job['state']}: {job}")
