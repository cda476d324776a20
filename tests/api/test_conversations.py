from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from core.types import Answer, Conversation
from tests.api.conftest import AUTH, error_of, wait_ready


def _ask(client: TestClient, question: str, conversation_id: str, stream: bool = False) -> None:
    body = {"question": question, "conversation_id": conversation_id, "stream": stream}
    response = client.post("/ask", json=body)
    assert response.status_code == 200, response.text


def test_a_conversation_keeps_questions_answers_and_citations(loaded: TestClient) -> None:
    created = loaded.post("/conversations", json={})
    assert created.status_code == 201
    conversation_id = Conversation.model_validate(created.json()).id
    _ask(loaded, "When was the Elmstead reservoir completed?", conversation_id)
    # A follow-up that names nothing: it is searched with the question before it.
    _ask(loaded, "And who was the engineer in charge?", conversation_id, stream=True)
    conversation = Conversation.model_validate(
        loaded.get(f"/conversations/{conversation_id}").json()
    )
    assert conversation.title == "When was the Elmstead reservoir completed?"
    assert [m.role for m in conversation.messages] == ["user", "assistant"] * 2
    last = conversation.messages[-1].answer
    assert last is not None
    assert "Margaret Quill" in last.answer
    assert (last.citations[0].filename, last.citations[0].page) == ("report.pdf", 2)
    listed = loaded.get("/conversations").json()["conversations"]
    assert [c["id"] for c in listed] == [conversation_id]


def test_conversations_survive_a_restart(api_settings: Settings, loaded: TestClient) -> None:
    conversation_id = loaded.post("/conversations").json()["id"]
    _ask(loaded, "Who was the engineer in charge of the works?", conversation_id)
    loaded.app.state.kbqa.conversations.close()  # type: ignore[attr-defined]
    with TestClient(create_app(api_settings), headers=AUTH) as again:
        wait_ready(again)
        conversation = Conversation.model_validate(
            again.get(f"/conversations/{conversation_id}").json()
        )
    assert conversation.messages[1].answer is not None
    assert conversation.messages[1].answer.citations[0].page == 2


def test_unknown_and_deleted_conversations_are_404(loaded: TestClient) -> None:
    response = loaded.post("/ask", json={"question": "Why?", "conversation_id": "nope"})
    assert response.status_code == 404
    assert "nope" in error_of(response)["message"]
    conversation_id = loaded.post("/conversations").json()["id"]
    assert loaded.delete(f"/conversations/{conversation_id}").status_code == 204
    assert loaded.get(f"/conversations/{conversation_id}").status_code == 404
    assert loaded.delete(f"/conversations/{conversation_id}").status_code == 404


def test_a_follow_up_in_a_conversation_is_rewritten_and_stored_with_its_search(
    loaded: TestClient,
) -> None:
    conversation_id = loaded.post("/conversations").json()["id"]
    _ask(loaded, "When was the Elmstead reservoir completed?", conversation_id)
    body = {"question": "Who was its engineer?", "conversation_id": conversation_id}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    # "its" read as the entity the stored history names (generation/referents.py)
    assert answer.search_query == "Who was Elmstead reservoir's engineer?"
    assert answer.grounded  # (the fake model quotes the sentence sharing most words)
    stored = Conversation.model_validate(loaded.get(f"/conversations/{conversation_id}").json())
    first, last = stored.messages[1].answer, stored.messages[3].answer
    assert first is not None
    assert last is not None
    assert first.search_query == "When was the Elmstead reservoir completed?"
    assert last.search_query == answer.search_query


def test_a_conversation_is_renamed_and_a_bad_title_is_422(loaded: TestClient) -> None:
    conversation_id = loaded.post("/conversations").json()["id"]
    _ask(loaded, "Who was the engineer in charge of the works?", conversation_id)
    renamed = loaded.patch(f"/conversations/{conversation_id}", json={"title": " The engineer "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "The engineer"
    assert "messages" not in renamed.json()
    listed = loaded.get("/conversations").json()["conversations"]
    assert [c["title"] for c in listed] == ["The engineer"]
    for bad in ("", "   ", "x" * 81):
        response = loaded.patch(f"/conversations/{conversation_id}", json={"title": bad})
        assert response.status_code == 422
        assert "title" in str(error_of(response))
    assert loaded.patch("/conversations/nope", json={"title": "A"}).status_code == 404
