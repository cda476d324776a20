from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import ApiSettings, Settings
from tests.api.conftest import KEY, READ_KEY, REPORT, error_of, pdf


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/health", headers={"Authorization": ""}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/ask"), ("post", "/search"), ("get", "/documents"), ("get", "/jobs"),
     ("get", "/collections"), ("get", "/metrics"), ("get", "/v1/models"),
     ("post", "/v1/chat/completions")],
)  # fmt: skip
def test_every_route_but_health_needs_a_key(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "missing API key" in error_of(response)["message"]


def test_a_wrong_key_is_refused(client: TestClient) -> None:
    response = client.get("/documents", headers={"Authorization": "Bearer wrong-key"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_a_read_key_may_search_but_not_upload_or_delete(client: TestClient) -> None:
    read = {"Authorization": f"Bearer {READ_KEY}"}
    assert client.post("/search", json={"query": "reservoir"}, headers=read).status_code == 200
    files = [("files", ("report.pdf", pdf(REPORT), "application/pdf"))]
    response = client.post("/documents", files=files, headers=read)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert client.delete("/documents/abc", headers=read).status_code == 403
    assert client.delete("/collections/default", headers=read).status_code == 403


def test_no_keys_means_open_on_loopback(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedding={"backend": "fake"}, llm={"backend": "fake"})
    with TestClient(create_app(settings, warm_up=False)) as open_client:
        assert open_client.get("/documents").status_code == 200


def test_keys_are_required_beyond_loopback_and_must_be_real() -> None:
    with pytest.raises(ValueError, match="needs keys"):
        ApiSettings(host="0.0.0.0")
    with pytest.raises(ValueError, match="too weak"):
        ApiSettings(keys=["changeme"])
    assert ApiSettings(host="0.0.0.0", keys=["k" * 20]).auth_enabled


def test_a_key_limited_to_some_collections_sees_and_uses_only_those(
    api_settings: Settings,
) -> None:
    from tests.api.conftest import AUTH, ORCHARD, ingest, wait_ready

    scoped = "farm-key-0123456789abcdef"
    api = api_settings.api.model_copy(
        update={"keys": [*api_settings.api.keys, scoped], "key_collections": {scoped: ["farm"]}}
    )
    with TestClient(create_app(api_settings.model_copy(update={"api": api})), headers=AUTH) as c:
        wait_ready(c)
        ingest(c, {"report.pdf": pdf(REPORT)})
        ingest(c, {"orchard.pdf": pdf(ORCHARD)}, collection="farm")
        farm = {"Authorization": f"Bearer {scoped}"}
        refused = c.post("/search", json={"query": "reservoir"}, headers=farm)
        assert refused.status_code == 403
        assert "'default'" in error_of(refused)["message"]
        body = {"query": "apple", "collection": "farm"}
        assert c.post("/search", json=body, headers=farm).json()["hits"]
        assert [x["name"] for x in c.get("/collections", headers=farm).json()["collections"]] == [
            "farm"
        ]
        docs = c.get("/documents", headers=farm).json()["documents"]
        assert [d["filename"] for d in docs] == ["orchard.pdf"]
        assert {j["collection"] for j in c.get("/jobs", headers=farm).json()["jobs"]} == {"farm"}
        models = [m["id"] for m in c.get("/v1/models", headers=farm).json()["data"]]
        assert models == ["kbqa", "kbqa/farm"]
        files = [("files", ("r.pdf", pdf(REPORT), "application/pdf"))]
        assert c.post("/documents", files=files, headers=farm).status_code == 403
        assert c.delete("/collections/default", headers=farm).status_code == 403
        chat = {"model": "kbqa", "messages": [{"role": "user", "content": "Why?"}]}
        assert c.post("/v1/chat/completions", json=chat, headers=farm).status_code == 403


def test_key_collections_must_name_known_keys() -> None:
    with pytest.raises(ValueError, match="neither keys nor read_keys"):
        ApiSettings(keys=["k" * 20], key_collections={"x" * 20: ["farm"]})


def test_keys_never_reach_the_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    wrong = "wrong-key-that-must-not-be-logged-0001"
    client.get("/documents", headers={"Authorization": f"Bearer {wrong}"})
    client.post("/ask", json={"question": "Why?"})
    client.get("/nope")
    assert wrong not in caplog.text
    assert KEY not in caplog.text
