from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.schemas import Health
from core.settings import Settings
from tests.api.conftest import AUTH, wait_ready


def test_health_is_ready_once_index_and_model_are(loaded: TestClient) -> None:
    health = Health.model_validate(loaded.get("/health").json())
    assert (health.status, health.index, health.model) == ("ready", True, True)


def test_health_is_503_until_warm_up_and_says_why_it_failed(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        embedding={"backend": "fake"},
        llm={"llama_cpp": {"model_path": tmp_path / "missing.gguf"}},
    )
    with TestClient(create_app(settings, warm_up=False)) as client:
        response = client.get("/health")
        assert response.status_code == 503
        assert Health.model_validate(response.json()).status == "starting"
    with TestClient(create_app(settings)) as client:
        for _ in range(500):
            health = Health.model_validate(client.get("/health").json())
            if health.status != "starting":
                break
        assert health.status == "unavailable"
        assert "missing.gguf" in (health.error or "")


def test_metrics_count_requests_by_route_and_time_stages(loaded: TestClient) -> None:
    loaded.post("/ask", json={"question": "Who was the engineer?"})
    loaded.get("/documents/no-such-id")
    text = loaded.get("/metrics").text
    assert 'kbqa_http_requests_total{method="POST",route="/ask",status="200"} 1.0' in text
    assert (
        'kbqa_http_requests_total{method="GET",route="/documents/{document_id}",status="404"} 1.0'
        in text
    )
    assert 'kbqa_stage_seconds_count{stage="rerank"} 1.0' in text
    assert 'kbqa_stage_seconds_count{stage="first_token"} 1.0' in text
    assert 'kbqa_documents{collection="default"} 1.0' in text
    assert 'kbqa_ingest_jobs{state="succeeded"} 1.0' in text


def test_openapi_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/ask", "/search", "/documents", "/jobs/{job_id}", "/v1/chat/completions"} <= set(
        schema["paths"]
    )
    assert client.get("/docs").status_code == 200


def test_a_chunked_body_over_the_limit_is_413(api_settings: Settings) -> None:
    api = api_settings.api.model_copy(update={"max_request_mb": 0.25})
    app = create_app(api_settings.model_copy(update={"api": api}))
    with TestClient(app, headers=AUTH) as client:
        wait_ready(client)
        chunks = (b"x" * 65536 for _ in range(8))  # no Content-Length: sent chunked
        response = client.post("/ask", content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
