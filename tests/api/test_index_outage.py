"""The API on the Milvus index when Milvus is away: at start, between requests, mid-write.

Each test runs its own `milvus-lite server` and stops it, then starts it again on the same port
and data directory, as an operator restarting Milvus would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import index.milvus as milvus_module
from api.app import create_app
from api.schemas import Health
from core.net import free_port
from core.settings import Settings
from index.milvus import MilvusIndex
from tests.api.conftest import AUTH, ORCHARD, REPORT, error_of, pdf, upload, wait, wait_ready
from tests.utils.milvus import MilvusServer

MilvusClient = pytest.importorskip("pymilvus").MilvusClient

QUERY = {"query": "Elmstead reservoir dam engineer", "mode": "bm25"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MilvusServer]:
    milvus = MilvusServer(tmp_path / "milvus").start()
    yield milvus
    milvus.stop()


def _stop_after_first_chunk(server: MilvusServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop Milvus right after the first write of chunks (with ``_BATCH`` 1: one chunk), so
    that it goes away mid-document."""
    real_upsert = MilvusClient.upsert
    stopped: list[str] = []

    def upsert_then_stop(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        result = real_upsert(self, name, *args, **kwargs)
        if name.endswith("_chunks") and not stopped:
            stopped.append(name)
            server.stop()
        return result

    monkeypatch.setattr(MilvusClient, "upsert", upsert_then_stop)


def _settings(
    api_settings: Settings, milvus: MilvusServer, retries_s: list[float] | None = None
) -> Settings:
    """Settings on ``milvus``; jobs give up at once unless ``retries_s`` says otherwise."""
    index = milvus.settings(timeout_s=2).model_copy(update={"job_retries_s": retries_s or []})
    return api_settings.model_copy(update={"index": index})


def _found(client: TestClient) -> set[str]:
    response = client.post("/search", json=QUERY)
    assert response.status_code == 200, response.text
    return {hit["filename"] for hit in response.json()["hits"]}


def test_health_says_why_while_milvus_is_unreachable_and_recovers(
    api_settings: Settings, tmp_path: Path
) -> None:
    milvus = MilvusServer(tmp_path / "milvus", port=free_port())  # not started
    with TestClient(create_app(_settings(api_settings, milvus)), headers=AUTH) as client:
        deadline = time.monotonic() + 30
        while (health := client.get("/health")).json()["error"] is None:
            assert time.monotonic() < deadline, health.json()
            time.sleep(0.05)
        body = Health.model_validate(health.json())
        assert health.status_code == 503
        assert body.status == "unavailable"
        assert f"Milvus at {milvus.uri}" in (body.error or "")
        response = client.post("/search", json=QUERY)
        assert response.status_code == 503
        assert error_of(response)["code"] == "index_unavailable"
        milvus.start()  # the API comes up by itself once Milvus does
        try:
            wait_ready(client, timeout=60)
            assert _found(client) == set()
        finally:
            milvus.stop()


def test_requests_while_milvus_is_down_are_503_and_nothing_is_lost(
    api_settings: Settings, server: MilvusServer
) -> None:
    with TestClient(create_app(_settings(api_settings, server)), headers=AUTH) as client:
        wait_ready(client)
        (job,) = upload(client, {"report.pdf": pdf(REPORT)})
        done = wait(client, job)
        assert done.state == "succeeded"
        assert done.document is not None
        server.stop()
        health = client.get("/health")
        assert health.status_code == 503
        assert f"Milvus at {server.uri}" in (Health.model_validate(health.json()).error or "")
        for response in (
            client.post("/search", json=QUERY),
            client.get("/documents"),
            client.delete(f"/documents/{done.document.id}"),
        ):
            assert response.status_code == 503, response.text
            error = error_of(response)
            assert error["code"] == "index_unavailable"
            assert server.uri in error["message"]
        (failed,) = upload(client, {"orchard.pdf": pdf(ORCHARD)})
        failed = wait(client, failed)
        assert failed.state == "failed"
        assert failed.error is not None
        assert failed.error.code == "index_unavailable"
        server.start()
        wait_ready(client, timeout=30)
        assert _found(client) == {"report.pdf"}
        assert [d["filename"] for d in client.get("/documents").json()["documents"]] == [
            "report.pdf"
        ]
        (again,) = upload(client, {"orchard.pdf": pdf(ORCHARD)})
        assert wait(client, again).state == "succeeded"


def test_a_write_cut_short_by_an_outage_is_hidden_and_redone_whole(
    api_settings: Settings, server: MilvusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(milvus_module, "_BATCH", 1)  # a chunk per call: stopped after the first
    settings = _settings(api_settings, server)
    with TestClient(create_app(settings), headers=AUTH) as client:
        wait_ready(client)
        _stop_after_first_chunk(server, monkeypatch)
        (job,) = upload(client, {"report.pdf": pdf(REPORT)})
        job = wait(client, job, timeout=60)
        assert job.state == "failed"
        assert job.error is not None
        assert job.error.code == "index_unavailable"
        server.start()
        assert client.get("/documents").json()["documents"] == []
        assert _found(client) == set()  # the chunk that was written stays hidden
        (again,) = upload(client, {"report.pdf": pdf(REPORT)})
        again = wait(client, again)
        assert again.state == "succeeded"
        assert again.chunks_total is not None
        assert again.chunks_total > 1
        assert _found(client) == {"report.pdf"}
    check = MilvusIndex(settings.index, client.app.state.kbqa.embedder)  # type: ignore[attr-defined]
    try:
        assert check.verify() == []  # the retry overwrote the hidden chunk: no copy of it
        assert check.stats() == {"default": (1, again.chunks_total)}
    finally:
        check.close()


def test_a_job_waits_for_milvus_to_come_back_and_then_succeeds(
    api_settings: Settings, server: MilvusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(milvus_module, "_BATCH", 1)
    settings = _settings(api_settings, server, retries_s=[0.5] * 60)
    with TestClient(create_app(settings), headers=AUTH) as client:
        wait_ready(client)
        _stop_after_first_chunk(server, monkeypatch)
        (job,) = upload(client, {"report.pdf": pdf(REPORT)})
        deadline = time.monotonic() + 30
        while client.get(f"/jobs/{job.id}").json()["stage"] != "waiting for the index":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.start()
        done = wait(client, job, timeout=60)
        assert done.state == "succeeded", done.error
        assert _found(client) == {"report.pdf"}
        assert client.app.state.kbqa.verify() == []  # type: ignore[attr-defined]
