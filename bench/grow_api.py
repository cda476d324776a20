"""Grow a corpus through the HTTP API and time adding a document as it grows.

Starts ``kbqa serve`` on a scratch data folder with the fake embedder and chat model (the
index is what is measured, not the models), uploads text files of ``--doc-chunks`` chunks
until the corpus reaches each of ``--sizes``, and there times five uploads of a 50-chunk
document (from POST to the job's end, and the job's own start-to-finish) and their DELETEs,
and five /search calls. Prints one JSON line per size and a table at the end::

    python bench/grow_api.py --sizes 10000,50000,100000,120000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale.corpus import _ZIPF, VOCABULARY, WORDS  # noqa: E402
from generation.server import free_port  # noqa: E402

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
            [sys.executable, "-c", "from kbqa.cli import main; main()", "serve", "--no-ui"]
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


def probe(server: Server, number: int, reps: int = 5) -> dict[str, Any]:
    """Median times of adding (POST to finished; and the job alone), deleting, searching."""
    adds, jobs, deletes, searches, sizes = [], [], [], [], []
    for rep in range(reps):
        started = time.perf_counter()
        (job,) = server.wait(
            server.upload([(f"probe-{number}-{rep}.txt", text(10**9 + 10 * number + rep, 50))])
        )
        adds.append(time.perf_counter() - started)
        jobs.append(_seconds(job))
        sizes.append(job["document"]["chunks"])
        started = time.perf_counter()
        server.http.delete(f"/documents/{job['document']['id']}").raise_for_status()
        deletes.append(time.perf_counter() - started)
        started = time.perf_counter()
        body = {"query": " ".join(WORDS[[100 + rep, 2000 + rep]]), "rerank": False}
        server.http.post("/search", json=body).raise_for_status()
        searches.append(time.perf_counter() - started)
    return {
        "add_s": round(statistics.median(adds), 3),
        "add_job_s": round(statistics.median(jobs), 3),
        "delete_s": round(statistics.median(deletes), 3),
        "search_s": round(statistics.median(searches), 3),
        "probe_chunks": statistics.median(sizes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000,120000")
    parser.add_argument("--doc-chunks", type=int, default=1000)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="kbqa-grow-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(data_dir)
    results = []
    number = 0
    try:
        for size in sorted(int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            while (have := server.chunks()) < size:
                batch = min(10, max(1, (size - have) // args.doc_chunks))
                files = [
                    (f"doc{number + i}.txt", text(number + i, args.doc_chunks))
                    for i in range(batch)
                ]
                number += batch
                server.wait(server.upload(files))
            result = {"chunks": server.chunks(), "grow_s": round(time.perf_counter() - started, 1)}
            result |= probe(server, number)
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        server.stop()
    keys = ("chunks", "add_s", "add_job_s", "delete_s", "search_s")
    print(
        "| chunks | add 50 chunks, POST to done (s) | the job alone (s) | delete (s) | search (s) |"
    )
    print("|---|---|---|---|---|")
    for r in results:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
