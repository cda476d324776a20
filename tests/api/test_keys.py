"""/keys: keys made at run time, stored hashed, with the access they were made with, revoked at
once; and /feedback on answers."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.feedback import FeedbackList
from api.routes.keys import KeyList
from core.records import ApiKey, Feedback, NewApiKey
from core.settings import Settings
from tests.api.conftest import READ_KEY, error_of


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _make(client: TestClient, **body: object) -> NewApiKey:
    response = client.post("/keys", json={"name": "ci", **body})
    assert response.status_code == 201, response.text
    return NewApiKey.model_validate(response.json())


def test_a_key_made_at_run_time_works_until_revoked(client: TestClient) -> None:
    key = _make(client, access="full")
    assert key.key.startswith(key.prefix)
    assert client.get("/documents", headers=_bearer(key.key)).status_code == 200
    listed = KeyList.model_validate(client.get("/keys").json()).keys
    assert [(k.id, k.prefix) for k in listed] == [(key.id, key.prefix)]
    assert key.key not in client.get("/keys").text  # shown once, then never
    revoked = ApiKey.model_validate(client.delete(f"/keys/{key.id}").json())
    assert revoked.revoked_at is not None
    response = client.get("/documents", headers=_bearer(key.key))
    assert response.status_code == 401
    assert error_of(response)["message"] == "invalid API key"


def test_a_read_key_made_at_run_time_may_not_write(client: TestClient) -> None:
    key = _make(client)  # read is the default
    assert client.get("/documents", headers=_bearer(key.key)).status_code == 200
    response = client.delete("/documents/abc", headers=_bearer(key.key))
    assert response.status_code == 403


def test_a_key_limited_to_a_collection_sees_only_it(client: TestClient) -> None:
    key = _make(client, access="full", collections=["hr"])
    response = client.get("/documents", params={"collection": "legal"}, headers=_bearer(key.key))
    assert response.status_code == 403
    assert "'legal'" in error_of(response)["message"]
    assert client.get("/keys", headers=_bearer(key.key)).status_code == 403  # not an admin


def test_only_full_keys_manage_keys(client: TestClient) -> None:
    response = client.post("/keys", json={"name": "x"}, headers=_bearer(READ_KEY))
    assert response.status_code == 403
    made = _make(client, access="full")
    assert client.post("/keys", json={"name": "y"}, headers=_bearer(made.key)).status_code == 201


def test_bad_key_requests_are_refused_by_name(client: TestClient) -> None:
    cases = [
        ({"name": ""}, "name"),
        ({"name": "x", "access": "root"}, "access"),
        ({"name": "x", "collections": ["no spaces"]}, "collections"),
        ({"name": "x", "admin": True}, "admin"),
    ]
    for body, field in cases:
        response = client.post("/keys", json=body)
        assert response.status_code == 422, body
        assert field in error_of(response)["message"], body
    response = client.delete("/keys/nope")
    assert response.status_code == 404
    assert "nope" in error_of(response)["message"]


def test_keys_cannot_be_made_on_an_open_api(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedding={"backend": "fake"}, llm={"backend": "fake"})
    with TestClient(create_app(settings, warm_up=False)) as open_client:
        response = open_client.post("/keys", json={"name": "x"})
    assert response.status_code == 409
    assert "KBQA_API__KEYS" in error_of(response)["message"]


def test_feedback_is_kept_with_the_answer_and_its_citations(loaded: TestClient) -> None:
    conversation = loaded.post("/conversations").json()["id"]
    answer = loaded.post(
        "/ask",
        json={"question": "When was the reservoir completed?", "conversation_id": conversation},
    ).json()
    body = {
        "rating": "up",
        "question": answer["question"],
        "answer": answer["answer"],
        "citations": answer["citations"],
        "comment": "right",
        "conversation_id": conversation,
    }
    response = loaded.post("/feedback", json=body, headers=_bearer(READ_KEY))  # readers too
    assert response.status_code == 201, response.text
    given = Feedback.model_validate(response.json())
    assert given.citations[0].filename == "report.pdf"
    listed = FeedbackList.model_validate(loaded.get("/feedback").json()).feedback
    assert listed == [given]


def test_bad_feedback_is_refused_by_name(client: TestClient) -> None:
    good = {"rating": "down", "question": "q?", "answer": "a"}
    for change, field in [
        ({"rating": "meh"}, "rating"),
        ({"question": " "}, "question"),
        ({"comment": "x" * 5000}, "comment"),
    ]:
        response = client.post("/feedback", json={**good, **change})
        assert response.status_code == 422, change
        assert field in error_of(response)["message"]
    response = client.post("/feedback", json={**good, "conversation_id": "nope"})
    assert response.status_code == 404
