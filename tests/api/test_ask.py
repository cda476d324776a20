from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from core.errors import ModelError
from core.types import Answer
from generation.fake import QuotingChatModel
from generation.prompts import REFUSAL
from tests.api.conftest import ORCHARD, error_of, ingest, pdf

QUESTION = "Who was the engineer in charge of the works?"


def sse(text: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a Server-Sent Events body."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def test_ask_answers_with_document_and_page(loaded: TestClient) -> None:
    response = loaded.post("/ask", json={"question": QUESTION})
    assert response.status_code == 200
    answer = Answer.model_validate(response.json())
    assert "Margaret Quill" in answer.answer
    assert answer.grounded
    (citation,) = answer.citations
    assert (citation.filename, citation.page, citation.n) == ("report.pdf", 2, 1)
    assert {"retrieval", "generation", "total"} <= set(answer.timings)


def test_streamed_answer_ends_with_the_same_citations(loaded: TestClient) -> None:
    plain = Answer.model_validate(loaded.post("/ask", json={"question": QUESTION}).json())
    response = loaded.post("/ask", json={"question": QUESTION, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.text)
    tokens = [data["text"] for event, data in events if event == "token"]
    assert len(tokens) > 1
    assert [event for event, _ in events][-1] == "answer"
    streamed = Answer.model_validate(events[-1][1])
    assert "".join(tokens) == streamed.answer == plain.answer
    assert streamed.citations == plain.citations


def test_a_question_the_documents_cannot_answer_is_refused(loaded: TestClient) -> None:
    answer = Answer.model_validate(loaded.post("/ask", json={"question": "zzz qqq xxx?"}).json())
    assert answer.answer == REFUSAL
    assert not answer.grounded
    assert answer.citations == []


def test_ask_across_collections(client: TestClient) -> None:
    ingest(client, {"orchard.pdf": pdf(ORCHARD)}, collection="farm")
    body = {"question": "Who planted the oldest tree in the orchard?"}
    default_only = Answer.model_validate(client.post("/ask", json=body).json())
    assert default_only.citations == []
    both = {**body, "collections": ["default", "farm"]}
    answer = Answer.model_validate(client.post("/ask", json=both).json())
    assert answer.citations[0].collection == "farm"
    assert answer.citations[0].page == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"question": "   "}, 422, "invalid_request"),
        ({"question": "x" * 4001}, 422, "invalid_request"),
        ({"question": "Why?", "strategy": "tree-of-thought"}, 422, "invalid_request"),
        ({"question": "Why?", "temperature": 9}, 422, "invalid_request"),
        ({"question": "Why?", "colection": "typo"}, 422, "invalid_request"),
        ({"question": "Why?", "collection": "../etc"}, 422, "invalid_request"),
        ({"question": "Why?", "top_k": 0}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
        ([1, 2], 400, "invalid_json"),
    ],
)
def test_bad_requests_are_4xx_in_one_shape(
    loaded: TestClient, body: object, status: int, code: str
) -> None:
    response = loaded.post("/ask", json=body)
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_malformed_json_is_400(loaded: TestClient) -> None:
    headers = {"Content-Type": "application/json"}
    response = loaded.post("/ask", content=b'{"question": ', headers=headers)
    assert response.status_code == 400
    assert error_of(response)["message"] == "the request body is not valid JSON"


def test_sampling_history_and_strategy_reach_the_model(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict = {}
    original = QuotingChatModel._stream

    def spy(self: QuotingChatModel, messages: list, stop: object = None, **kwargs: object):  # noqa: ANN202
        seen.update(kwargs, messages=messages)
        return original(self, messages, stop, **kwargs)

    monkeypatch.setattr(QuotingChatModel, "_stream", spy)
    body = {
        "question": "And who was its engineer?",
        "strategy": "few-shot",
        "temperature": 0.7,
        "max_tokens": 50,
        "seed": 3,
        "history": [
            {"role": "user", "content": "When was the Elmstead reservoir completed?"},
            {"role": "assistant", "content": "In 1887 [1]."},
        ],
    }
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    assert answer.strategy == "few-shot"
    assert (seen["temperature"], seen["max_tokens"], seen["seed"]) == (0.7, 50, 3)
    assert seen["extra_body"] == {"max_tokens": 50}
    texts = [m.content for m in seen["messages"]]
    assert "In 1887 [1]." in texts  # the earlier turn is in the conversation
    assert "Margaret Quill" in answer.answer


def test_an_unreachable_model_is_503_not_a_crash(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object):  # noqa: ANN202
        raise ModelError("chat model at http://127.0.0.1:9/v1 unreachable")
        yield  # a generator, like the real one

    monkeypatch.setattr(loaded.app.state.kbqa, "ask_stream", down)  # type: ignore[attr-defined]
    for stream in (False, True):
        response = loaded.post("/ask", json={"question": QUESTION, "stream": stream})
        assert response.status_code == 503
        assert error_of(response)["code"] == "model_unavailable"


def test_an_error_mid_stream_ends_with_an_error_event(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def breaks(*args: object, **kwargs: object):  # noqa: ANN202
        yield "The engineer "
        raise ModelError("chat server went away")

    monkeypatch.setattr(loaded.app.state.kbqa, "ask_stream", breaks)  # type: ignore[attr-defined]
    response = loaded.post("/ask", json={"question": QUESTION, "stream": True})
    events = sse(response.text)
    assert events[0] == ("token", {"text": "The engineer "})
    event, data = events[-1]
    assert event == "error"
    assert data["error"]["code"] == "model_unavailable"


def test_unknown_query_parameters_are_refused(loaded: TestClient) -> None:
    response = loaded.get("/documents", params={"colection": "water"})
    assert response.status_code == 422
    assert "'colection'" in error_of(response)["message"]


# -- follow-up questions ----------------------------------------------------------------------
ORCHARD_HISTORY = [
    {"role": "user", "content": "Who planted the oldest tree in the Hollins orchard?"},
    {"role": "assistant", "content": "Ada Hollins, in 1902 [1]."},
]


@pytest.fixture
def searched(loaded: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries that reach retrieval; the default collection holds the report and orchard."""
    ingest(loaded, {"orchard.pdf": pdf(ORCHARD)})
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    queries: list[str] = []
    original = service.retriever.search

    def spy(query: str, *args: object, **kwargs: object):  # noqa: ANN202
        queries.append(query)
        return original(query, *args, **kwargs)

    monkeypatch.setattr(service.retriever, "search", spy)
    return queries


def test_a_follow_up_is_rewritten_and_the_rewrite_is_searched(
    loaded: TestClient, searched: list[str]
) -> None:
    body = {"question": "How many kinds of apple does it grow?", "history": ORCHARD_HISTORY}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    # The fake model puts the name the last question asked about in place of "it".
    assert answer.search_query == "How many kinds of apple does Hollins grow?"
    assert searched == [answer.search_query]
    assert answer.question == body["question"]  # the answer is for the question as asked
    assert "forty kinds of apple" in answer.answer
    assert (answer.citations[0].filename, answer.citations[0].page) == ("orchard.pdf", 1)
    assert "rewrite" in answer.timings


def test_a_question_without_history_is_searched_as_asked(
    loaded: TestClient, searched: list[str]
) -> None:
    answer = Answer.model_validate(loaded.post("/ask", json={"question": QUESTION}).json())
    assert answer.search_query == QUESTION
    assert searched == [QUESTION]
    assert "rewrite" not in answer.timings


def test_an_unusable_rewrite_falls_back_to_the_previous_question_and_the_follow_up(
    loaded: TestClient, searched: list[str]
) -> None:
    # No pronoun: the fake model repeats the question, which is no rewrite.
    body = {"question": "How many kinds of apple?", "history": ORCHARD_HISTORY}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    expected = f"{ORCHARD_HISTORY[0]['content']}\n{body['question']}"
    assert answer.search_query == expected
    assert searched == [expected]
    assert answer.citations[0].filename == "orchard.pdf"


def test_rewriting_can_be_switched_off(
    loaded: TestClient, searched: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    monkeypatch.setattr(service.settings.generation, "rewrite", False)
    monkeypatch.setattr(service.generator, "rewrite", None)  # would fail if it were called
    body = {"question": "How many kinds of apple does it grow?", "history": ORCHARD_HISTORY}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    assert answer.search_query == f"{ORCHARD_HISTORY[0]['content']}\n{body['question']}"


def test_the_streamed_answer_event_says_what_was_searched_for(loaded: TestClient) -> None:
    body = {
        "question": "And who was its engineer?",
        "history": [
            {"role": "user", "content": "When was the Elmstead reservoir completed?"},
            {"role": "assistant", "content": "In 1887 [1]."},
        ],
        "stream": True,
    }
    event, data = sse(loaded.post("/ask", json=body).text)[-1]
    assert event == "answer"
    answer = Answer.model_validate(data)
    assert answer.search_query == "And who was Elmstead's engineer?"
    assert "Margaret Quill" in answer.answer
