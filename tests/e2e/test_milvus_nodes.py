"""Two `kbqa serve` processes, each with its own data directory, sharing one knowledge base in
Milvus (a `milvus-lite server` process): what one is given, the other answers from and cites;
what one deletes is gone from the other. Fake embedder and chat model: the index is on trial."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.test_end_to_end import PAGES
from tests.utils.milvus import MilvusServer
from tests.utils.pdfs import text_pdf_bytes
from tests.utils.servers import kbqa_serve, upload

pytestmark = pytest.mark.slow
KEY = "nodes-key-0123456789abcdef"
QUESTION = "In which year was the Elmstead reservoir completed?"


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, milvus_server: MilvusServer
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    root = tmp_path_factory.mktemp("nodes")
    env = {
        "KBQA_API__KEYS": json.dumps([KEY]),
        "KBQA_EMBEDDING__BACKEND": "fake",
        "KBQA_LLM__BACKEND": "fake",
        "KBQA_INGEST__ISOLATE": "false",
        "KBQA_INDEX__BACKEND": "milvus",
        "KBQA_INDEX__MILVUS__URI": milvus_server.uri,
        "KBQA_INDEX__MILVUS__PREFIX": milvus_server.settings().milvus.prefix,
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    with contextlib.ExitStack() as stack:
        clients = []
        for name in ("a", "b"):  # each node with a data directory of its own
            (root / name).mkdir()
            url, _ = stack.enter_context(kbqa_serve(root / name, "--no-ui", env=env))
            clients.append(
                stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=60))
            )
        yield clients[0], clients[1]


def _ingest(node: httpx.Client, name: str, data: bytes) -> dict:
    return upload(node, name, data, timeout=120)


def _filenames(node: httpx.Client) -> list[str]:
    return [d["filename"] for d in node.get("/documents").json()["documents"]]


def test_one_node_answers_from_what_the_other_was_given(
    nodes: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = nodes
    job = _ingest(a, "water-board.pdf", text_pdf_bytes(PAGES))
    assert _filenames(b) == ["water-board.pdf"]
    answer = b.post("/ask", json={"question": QUESTION}).json()
    assert "1887" in answer["answer"], answer
    citation = answer["citations"][0]
    assert (citation["filename"], citation["page"]) == ("water-board.pdf", 2)
    hits = b.post("/search", json={"query": QUESTION}).json()["hits"]
    assert {"dense", "bm25", "rrf"} <= set(hits[0]["scores"])  # per-ranker scores stay

    deleted = b.delete(f"/documents/{job['document']['id']}")
    assert deleted.status_code == 200, deleted.text
    assert _filenames(a) == []
    assert a.post("/search", json={"query": QUESTION}).json()["hits"] == []


def test_the_same_file_uploaded_to_both_at_once_is_one_document(
    nodes: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = nodes
    data = text_pdf_bytes([*PAGES, "A fourth page so that this file differs from the first."])
    with ThreadPoolExecutor(2) as pool:
        jobs = list(pool.map(lambda node: _ingest(node, "twice.pdf", data), (a, b)))
    assert jobs[0]["document"]["id"] == jobs[1]["document"]["id"]
    (collection,) = a.get("/collections").json()["collections"]
    assert collection["documents"] == 1
    assert collection["chunks"] == jobs[0]["document"]["chunks"]
    hits = a.post("/search", json={"query": "fourth page differs", "top_k": 20}).json()["hits"]
    keys = [(h["chunk"]["document_id"], h["chunk"]["ordinal"]) for h in hits]
    assert len(keys) == len(set(keys))  # no chunk twice
