"""Many clients at once while documents come and go: no torn reads, no errors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.api.conftest import ingest, pdf

# Every page of this document holds "zebra", so a search for it returns all its chunks.
ZEBRA = [f"Page {i}: the zebra herd grazed on the {i}th plain of the reserve." for i in range(8)]


def test_readers_see_a_document_whole_or_not_at_all(loaded: TestClient) -> None:
    (job,) = ingest(loaded, {"zebra.pdf": pdf(ZEBRA)})
    assert job.document is not None
    whole = job.document.chunks
    doc_id = job.document.id
    stop = threading.Event()
    seen: set[int] = set()
    failures: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            body = {"query": "zebra", "mode": "bm25", "top_k": 50, "rerank": False}
            response = loaded.post("/search", json=body)
            if response.status_code != 200:
                failures.append(response.text)
                continue
            seen.add(sum(h["chunk"]["document_id"] == doc_id for h in response.json()["hits"]))
            asked = loaded.post("/ask", json={"question": "What grazed on the plain?"})
            if asked.status_code != 200:
                failures.append(asked.text)

    def writer() -> None:
        for _ in range(15):
            assert loaded.delete(f"/documents/{doc_id}").status_code == 200
            ingest(loaded, {"zebra.pdf": pdf(ZEBRA)})
        stop.set()

    with ThreadPoolExecutor(5) as pool:
        readers = [pool.submit(reader) for _ in range(4)]
        pool.submit(writer).result(timeout=120)
        for future in readers:
            future.result(timeout=30)
    assert failures == []
    assert seen <= {0, whole}, f"a reader saw part of a document: {seen}"
    assert seen == {0, whole} or seen == {whole}
