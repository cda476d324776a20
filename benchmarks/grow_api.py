"""Grow a corpus through the HTTP API and time adding a document as it grows.

Starts two ``kbqa serve`` on scratch data folders with the fake embedder and chat model (the
index is what is measured, not the models). One is grown, by uploads of text files of
``--doc-chunks`` chunks, through each of ``--sizes``; the other stays at the smallest size as
a baseline. At each size both are probed in alternation, nine rounds: an upload of a 50-chunk
document (from POST to the job's end, and the job's own start-to-finish), its DELETE, and a
/search. Prints one JSON line per size and a table at the end::

    python -m benchmarks grow-api --sizes 10000,50000,100000,120000
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import typer

from benchmarks.cli import comma_ints
from benchmarks.scale.corpus import _ZIPF, VOCABULARY, WORDS
from core.net import free_port

CHUNK_SIZE = 200  # characters; the fake-backend tests' size, so text files split finely
WORDS_PER_CHUNK = 25  # about 200 characters of pseudo-words


def text(number: int, chunks: int) -> bytes:
    """A text file that splits into about ``chunks`` chunks (paragraphs of ~CHUNK_SIZE)."""
    rng = np.random.default_rng(number)
    words = WORDS[rng.choice(VOCABULARY, size=(chunks, WORDS_PER_CHUNK), p=_ZIPF)]
    return "\n\n".join(" ".join(row)[: CHUNK_SIZE - 20] for row in words).encode()


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "KBQA_DATA_DIR": str(data_dir),
            "KBQA_EMBEDDING__BACKEND": "fake",
            "KBQA_LLM__BACKEND": "fake",
            "KBQA_INGEST__CHUNK_SIZE": str(CHUNK_SIZE),
            "KBQA_INGEST__CHUNK_OVERLAP": "0",
        }
        port = self.url.rsplit(":", 1)[1]
        self.log = (data_dir / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from cli.main import main; main()", "serve", "--no-ui"]
            + ["--port", port],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=600)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not start: see {data_dir / 'server.log'}")

    def upload(self, files: list[tuple[str, bytes]]) -> list[str]:
        body = [("files", (name, data, "text/plain")) for name, data in files]
        response = self.http.post("/documents", files=body)
        response.raise_for_status()
        return [job["id"] for job in response.json()["jobs"]]

    def wait(self, job_ids: list[str]) -> list[dict[str, Any]]:
        done = []
        for job_id in job_ids:
            while True:
                job = self.http.get(f"/jobs/{job_id}").json()
                if job["finished_at"]:
                    if job["state"] != "succeeded":
                        raise RuntimeError(f"job failed: {job}")
                    done.append(job)
                    break
                time.sleep(0.02)
        return done

    def chunks(self) -> int:
        docs = self.http.get("/documents").json()["documents"]
        return sum(d["chunks"] for d in docs)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=120)
        self.log.close()


def _seconds(job: dict[str, Any]) -> float:
    start, end = (datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
    return (end - start).total_seconds()


def probe_once(server: Server, name: str) -> dict[str, float]:
    """Add a 50-chunk document (POST to finished; the job alone), delete it, search once."""
    out: dict[str, float] = {}
    started = time.perf_counter()
    data = text(zlib.crc32(name.encode()) + 10**9, 50)
    (job,) = server.wait(server.upload([(f"{name}.txt", data)]))
    out["add_s"] = time.perf_counter() - started
    out["add_job_s"] = _seconds(job)
    out["probe_chunks"] = job["document"]["chunks"]
    started = time.perf_counter()
    server.http.delete(f"/documents/{job['document']['id']}").raise_for_status()
    out["delete_s"] = time.perf_counter() - started
    started = time.perf_counter()
    body = {"query": " ".join(WORDS[[100, 2000]]), "rerank": False}
    server.http.post("/search", json=body).raise_for_status()
    out["search_s"] = time.perf_counter() - started
    return out


def probe(servers: list[Server], tag: str, reps: int = 9) -> list[dict[str, float]]:
    """Median figures of each server, probed in turn, round after round (the machine's speed
    drifts: only figures measured side by side compare)."""
    rounds: list[list[dict[str, float]]] = [[] for _ in servers]
    for rep in range(reps):
        for i, server in enumerate(servers):
            rounds[i].append(probe_once(server, f"probe-{tag}-{i}-{rep}"))
    return [
        {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
        for runs in rounds
    ]


def grow(server: Server, size: int, doc_chunks: int, number: int) -> int:
    """Upload documents until the server holds ``size`` chunks; the next document number."""
    while (have := server.chunks()) < size:
        batch = min(10, max(1, (size - have) // doc_chunks))
        files = [(f"doc{number + i}.txt", text(number + i, doc_chunks)) for i in range(batch)]
        number += batch
        server.wait(server.upload(files))
    return number


def grow_api(
    sizes: Annotated[
        str, typer.Option(help="Corpus sizes to grow through, in chunks, comma-separated.")
    ] = "10000,50000,100000,120000",
    doc_chunks: Annotated[
        int, typer.Option(min=1, help="Chunks of each uploaded document.")
    ] = 1000,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="The servers' data folders go here (default: a new temporary one)."),
    ] = None,
) -> None:
    """Grow a corpus through the HTTP API and time adding a document as it grows."""
    steps = sorted(comma_ints(sizes, "--sizes"))
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="kbqa-grow-"))
    (data_dir / "grown").mkdir(parents=True, exist_ok=True)
    (data_dir / "baseline").mkdir(parents=True, exist_ok=True)
    # The baseline server stays at the smallest size; each probe of the grown one is paired
    # with one of it, so that their ratio is measured under the same load.
    grown, baseline = Server(data_dir / "grown"), Server(data_dir / "baseline")
    results = []
    number = 0
    try:
        grow(baseline, steps[0], doc_chunks, 0)
        for size in steps:
            started = time.perf_counter()
            number = grow(grown, size, doc_chunks, number)
            result: dict[str, Any] = {
                "chunks": grown.chunks(),
                "baseline_chunks": baseline.chunks(),
                "grow_s": round(time.perf_counter() - started, 1),
            }
            at_size, at_base = probe([grown, baseline], str(size))
            result |= at_size | {f"baseline_{k}": v for k, v in at_base.items()}
            result["add_vs_baseline"] = round(at_size["add_job_s"] / at_base["add_job_s"], 2)
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        grown.stop()
        baseline.stop()
    keys = ("chunks", "add_s", "add_job_s", "baseline_add_job_s", "add_vs_baseline", "delete_s")
    print(
        "| chunks | add 50 chunks, POST to done (s) | the job alone (s) "
        "| the job, baseline at the smallest size (s) | ratio | delete (s) |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
