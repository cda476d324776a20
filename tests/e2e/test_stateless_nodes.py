"""Two `kbqa serve` processes sharing one PostgreSQL (conversations, jobs, uploads, keys) and
one Milvus (the index), each with a data directory of its own, used by a client that sends
every request to the other node than the last: nothing a node was told is unknown to the
other, and a node killed mid-job loses nothing. Fake embedder and chat model: the state is on
trial."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_end_to_end import PAGES
from tests.utils.milvus import MilvusServer
from tests.utils.pdfs import text_pdf_bytes
from tests.utils.postgres import PostgresServer
from tests.utils.proxy import TcpProxy
from tests.utils.servers import kbqa_serve

pytestmark = pytest.mark.slow
KEY = "nodes-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}"}
FOLLOW_UPS = [
    "In which year was the Elmstead reservoir completed?",
    "Who was its engineer?",
    "How high is its dam?",
]


def node_env(postgres_url: str, milvus: MilvusServer, prefix: str) -> dict[str, str]:
    return {
        "KBQA_API__KEYS": json.dumps([KEY]),
        "KBQA_EMBEDDING__BACKEND": "fake",
        "KBQA_LLM__BACKEND": "fake",
        "KBQA_INGEST__ISOLATE": "false",
        "KBQA_INDEX__BACKEND": "milvus",
        "KBQA_INDEX__MILVUS__URI": milvus.uri,
        "KBQA_INDEX__MILVUS__PREFIX": prefix,
        "KBQA_STATE__URL": postgres_url,
        "KBQA_STATE__JOB_LEASE_S": "3",
        "KBQA_STATE__JOB_POLL_S": "0.2",
    }


class Alternating:
    """A client that sends each request to the next node in turn, as a load balancer may."""

    def __init__(self, urls: list[str]) -> None:
        self.nodes = [httpx.Client(base_url=u, headers=HEADERS, timeout=60) for u in urls]
        self.sent = 0

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        node = self.nodes[self.sent % len(self.nodes)]
        self.sent += 1
        return node.request(method, path, **kwargs)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    milvus_server: MilvusServer,
) -> Iterator[Alternating]:
    root = tmp_path_factory.mktemp("stateless")
    env = node_env(postgres_server.new_database(), milvus_server, "stateless")
    with contextlib.ExitStack() as stack:
        urls = []
        for name in ("a", "b"):
            (root / name).mkdir()
            url, _ = stack.enter_context(kbqa_serve(root / name, "--no-ui", env=env))
            urls.append(url)
        client = Alternating(urls)
        stack.callback(client.close)
        yield client


def follow(client: Alternating, job_id: str, limit_s: float = 120) -> dict[str, Any]:
    """Poll a job (on alternating nodes) until it finishes."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = client.request("GET", f"/jobs/{job_id}").json()
        if job["finished_at"] is not None:
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {limit_s:g}s")


def submit(client: httpx.Client | Alternating, name: str, data: bytes) -> str:
    files = [("files", (name, data, "application/pdf"))]
    response = client.request("POST", "/documents", files=files)
    assert response.status_code == 202, response.text
    return str(response.json()["jobs"][0]["id"])


def test_a_job_started_on_one_node_is_followed_on_the_other(nodes: Alternating) -> None:
    job = follow(nodes, submit(nodes, "water-board.pdf", text_pdf_bytes(PAGES)))
    assert job["state"] == "succeeded", job
    listed = [j["id"] for j in nodes.request("GET", "/jobs").json()["jobs"]]
    assert job["id"] in listed


def test_many_uploads_to_both_nodes_are_each_indexed_once(nodes: Alternating) -> None:
    """Both workers claim from one queue: six files sent to alternating nodes end up as six
    documents, none twice, however the two nodes split the work."""
    files = {
        f"batch-{n}.pdf": text_pdf_bytes([f"Batch file {n} on the Elmstead works."])
        for n in range(6)
    }
    before = {d["id"] for d in nodes.request("GET", "/documents").json()["documents"]}
    job_ids = [submit(nodes, name, data) for name, data in files.items()]
    done = [follow(nodes, job_id) for job_id in job_ids]
    assert [j["state"] for j in done] == ["succeeded"] * 6, done
    assert not any(j["duplicate"] for j in done)
    documents = nodes.request("GET", "/documents").json()["documents"]
    added = [d for d in documents if d["id"] not in before]
    assert sorted(d["filename"] for d in added) == sorted(files)


def test_a_conversation_goes_on_across_nodes(nodes: Alternating) -> None:
    conversation = nodes.request("POST", "/conversations").json()["id"]
    for question in FOLLOW_UPS:
        body = {"question": question, "conversation_id": conversation}
        response = nodes.request("POST", "/ask", json=body)
        assert response.status_code == 200, response.text
    messages = nodes.request("GET", f"/conversations/{conversation}").json()["messages"]
    assert [m["content"] for m in messages[::2]] == FOLLOW_UPS
    assert len(messages) == 6
    # The follow-ups were asked with the turns before them, stored by the other node.
    assert "Elmstead" in messages[3]["answer"]["search_query"]


def test_a_key_made_on_one_node_works_and_is_revoked_on_the_other(nodes: Alternating) -> None:
    made = nodes.request("POST", "/keys", json={"name": "ci", "access": "read"}).json()
    auth = {"Authorization": f"Bearer {made['key']}"}
    for _ in range(2):  # one request to each node
        assert nodes.request("GET", "/documents", headers=auth).status_code == 200
    assert nodes.request("DELETE", f"/keys/{made['id']}").status_code == 200
    for _ in range(2):
        assert nodes.request("GET", "/documents", headers=auth).status_code == 401


def test_feedback_given_on_one_node_is_listed_on_the_other(nodes: Alternating) -> None:
    body = {"rating": "up", "question": "q?", "answer": "a", "comment": "from a node"}
    given = nodes.request("POST", "/feedback", json=body).json()
    listed = nodes.request("GET", "/feedback").json()["feedback"]
    assert given in listed


def test_the_deployed_topology_behind_a_round_robin_proxy(nodes: Alternating) -> None:
    """deploy/nodes as processes: the two nodes behind a balancer (a TCP proxy that sends each
    connection to the next node, as nginx's round robin does), one connection per request."""
    backends = [(n.base_url.host, n.base_url.port or 80) for n in nodes.nodes]
    proxy = TcpProxy(backends)
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    try:
        with httpx.Client(base_url=proxy.url, headers=HEADERS, limits=no_reuse, timeout=60) as lb:
            job = submit(lb, "balanced.pdf", text_pdf_bytes([*PAGES, "Behind the balancer."]))
            conversation = lb.post("/conversations").json()["id"]
            for question in FOLLOW_UPS[:2]:
                body = {"question": question, "conversation_id": conversation}
                assert lb.post("/ask", json=body).status_code == 200
            assert len(lb.get(f"/conversations/{conversation}").json()["messages"]) == 4
            deadline = time.monotonic() + 120
            while (state := lb.get(f"/jobs/{job}").json())["finished_at"] is None:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert state["state"] == "succeeded", state
    finally:
        proxy.close()
    assert all(count >= 3 for count in proxy.served.values()), proxy.served


def test_a_node_killed_mid_job_loses_nothing(
    tmp_path: Path, postgres_server: PostgresServer, milvus_server: MilvusServer
) -> None:
    """Node A reaches Milvus through a proxy that is cut once A holds a job: A waits for the
    index, renewing its lease, and is SIGKILLed there. B takes the job over when the lease runs
    out and finishes it, and the jobs queued behind it; each document is there once."""
    env = node_env(postgres_server.new_database(), milvus_server, "killed")
    proxy = TcpProxy([("127.0.0.1", milvus_server.port)])
    env_a = {**env, "KBQA_INDEX__MILVUS__URI": proxy.url, "KBQA_INDEX__MILVUS__TIMEOUT_S": "2",
             "KBQA_INDEX__JOB_RETRIES_S": "[600]"}  # fmt: skip
    files = {f"report-{n}.pdf": text_pdf_bytes([*PAGES, f"Report number {n}."]) for n in range(3)}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with contextlib.ExitStack() as stack:
        stack.callback(proxy.close)
        url_a, node_a = stack.enter_context(kbqa_serve(tmp_path / "a", "--no-ui", env=env_a))
        a = stack.enter_context(httpx.Client(base_url=url_a, headers=HEADERS, timeout=60))
        proxy.cut()
        job_ids = [submit(a, name, data) for name, data in files.items()]
        _wait_for(lambda: a.get(f"/jobs/{job_ids[0]}").json()["stage"] == "waiting for the index")
        url_b, _ = stack.enter_context(kbqa_serve(tmp_path / "b", "--no-ui", env=env))
        b = stack.enter_context(httpx.Client(base_url=url_b, headers=HEADERS, timeout=60))
        node_a.kill()  # SIGKILL: no release, no goodbye
        node_a.wait()
        done = [follow(Alternating([url_b]), job_id) for job_id in job_ids]
        assert [j["state"] for j in done] == ["succeeded"] * 3, done
        assert done[0]["resumed"]  # taken over from the dead node
        documents = b.get("/documents").json()["documents"]
        assert sorted(d["filename"] for d in documents) == sorted(files)
        (collection,) = b.get("/collections").json()["collections"]
        assert collection["chunks"] == sum(j["document"]["chunks"] for j in done)


def _wait_for(ok: Any, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while not ok():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
