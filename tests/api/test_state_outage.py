"""The API on a shared state (PostgreSQL) when PostgreSQL is away: 503 naming the reason, never
a 500, and every request served again once it is back, with nothing lost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.schemas import Health
from core.settings import Settings, StateSettings
from tests.api.conftest import REPORT, error_of, pdf, upload, wait, wait_ready
from tests.utils.postgres import PostgresServer


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    postgres = PostgresServer().start()  # its own: this test stops it
    yield postgres
    postgres.remove()


def _until(ok: object, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not ok():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not healed in time"
        time.sleep(0.1)


def test_a_stopped_database_answers_503_and_heals(
    api_settings: Settings, server: PostgresServer
) -> None:
    state = StateSettings(url=server.new_database(), timeout_s=1, job_poll_s=0.1)
    settings = api_settings.model_copy(update={"state": state})
    with TestClient(create_app(settings)) as client:
        client.headers.update({"Authorization": f"Bearer {settings.api.keys[0]}"})
        wait_ready(client)
        conversation = client.post("/conversations").json()["id"]
        made = client.post("/keys", json={"name": "n"}).json()["key"]

        server.stop()
        for method, path, kwargs in [
            ("get", f"/conversations/{conversation}", {}),
            ("post", "/conversations", {}),
            ("get", "/jobs", {}),
            ("post", "/feedback", {"json": {"rating": "up", "question": "q?", "answer": "a"}}),
        ]:
            response = client.request(method, path, **kwargs)
            assert response.status_code == 503, (path, response.text)
            error = error_of(response)
            assert error["code"] == "state_unavailable"
            assert "state database" in error["message"]
        files = [("files", ("report.pdf", pdf(REPORT), "application/pdf"))]
        assert client.post("/documents", files=files).status_code == 503
        # A key made at run time cannot be checked now: 503, not 401 (it is not wrong).
        response = client.get("/documents", headers={"Authorization": f"Bearer {made}"})
        assert response.status_code == 503
        health = client.get("/health")
        assert health.status_code == 503
        said = Health.model_validate(health.json())
        assert not said.state
        assert "state database" in (said.error or "")
        # Keys from the settings need no database: what does not touch the state still works.
        assert client.post("/search", json={"query": "reservoir"}).status_code == 200

        server.start()
        _until(lambda: client.get(f"/conversations/{conversation}").status_code == 200)
        wait_ready(client)
        assert client.get("/documents", headers={"Authorization": f"Bearer {made}"}).is_success
        (job,) = upload(client, {"report.pdf": pdf(REPORT)})
        assert wait(client, job).state == "succeeded"
