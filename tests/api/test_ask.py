from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.errors import ErrorBody
from core.errors import ModelError
from core.types import MAX_QUESTION_CHARS, Answer
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


def test_weak_evidence_is_refused_without_asking_the_model(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    strong = Answer.model_validate(loaded.post("/ask", json={"question": QUESTION}).json())
    assert strong.evidence is not None
    assert strong.evidence >= service.settings.retrieval.min_maxsim
    monkeypatch.setattr(QuotingChatModel, "stream", None)  # fails if the model is asked
    body = {"question": "Which mountain range holds the highest summit of Kenya?"}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    assert (answer.answer, answer.grounded, answer.citations) == (REFUSAL, False, [])
    assert answer.evidence is not None
    assert answer.evidence < service.settings.retrieval.min_maxsim


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
        ({"question": "x" * 4001}, 422, "too_long"),
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


LONG_QUESTION = "Who built the dam? " + "x" * 5191  # 5,210 characters


@pytest.mark.parametrize(
    ("path", "body", "what"),
    [
        ("/ask", {"question": LONG_QUESTION}, "question"),
        ("/ask", {"question": LONG_QUESTION, "stream": True}, "question"),
        ("/ask", {"question": LONG_QUESTION, "stream": True, "stages": True}, "question"),
        ("/search", {"query": LONG_QUESTION}, "query"),
        ("/v1/chat/completions", {"model": "kbqa", "messages": [
            {"role": "user", "content": LONG_QUESTION}]}, "question"),
        ("/v1/chat/completions", {"model": "kbqa", "stream": True, "messages": [
            {"role": "user", "content": LONG_QUESTION}]}, "question"),
    ],
)  # fmt: skip
def test_a_question_over_the_limit_is_refused_in_a_sentence_naming_the_limit(
    loaded: TestClient, path: str, body: dict, what: str
) -> None:
    """The same sentence and body whichever route it came by, not pydantic's "String should
    have at most 4000 characters"."""
    assert len(LONG_QUESTION) == 5210
    response = loaded.post(path, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    error = ErrorBody.model_validate(response.json()).error
    assert error.code == "too_long"
    assert error.message == f"The {what} is 5,210 characters long; the limit is 4,000."
    assert error.detail == {"field": what, "length": 5210, "limit": MAX_QUESTION_CHARS}


def test_a_question_at_the_limit_is_answered(loaded: TestClient) -> None:
    question = QUESTION + " " * 10 + "x" * (MAX_QUESTION_CHARS - len(QUESTION) - 10)
    assert len(question) == MAX_QUESTION_CHARS
    assert loaded.post("/ask", json={"question": question}).status_code == 200


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
        "question": "And the engineer?",  # nothing to rewrite: answered with the turns before
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
    assert answer.question == body["question"]


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


def test_a_follow_ups_pronoun_is_read_as_an_entity_named_before_without_the_model(
    loaded: TestClient, searched: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    monkeypatch.setattr(service.generator, "rewrite", None)  # would fail if it were called
    body = {"question": "How many kinds of apple does it grow?", "history": ORCHARD_HISTORY}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    # "it" read as each entity named before (generation/referents.py); the documents bear out
    # "Hollins orchard" best, and no other entity comes close: no note.
    assert answer.search_query == "How many kinds of apple does Hollins orchard grow?"
    assert searched == [answer.search_query]
    assert answer.question == body["question"]  # the answer is for the question as asked
    assert "forty kinds of apple" in answer.answer
    assert (answer.citations[0].filename, answer.citations[0].page) == ("orchard.pdf", 1)
    assert "rewrite" in answer.timings


@pytest.mark.parametrize(
    ("question", "note"),
    [
        ("How many kinds of apple does it grow?", "Assuming “Ada Hollins” from earlier."),
        ("它种了多少种苹果？", "按前文理解为“Ada Hollins”。"),
    ],
)
def test_when_two_entities_fit_the_more_recent_is_taken_and_the_answer_says_so(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch, question: str, note: str
) -> None:
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    # Every reading fits as well as every other: the latest turn's entity, the answer's, wins.
    monkeypatch.setattr(service.retriever, "fit", lambda queries, *_: ([1.0] * len(queries), 0.01))
    body = {"question": question, "history": ORCHARD_HISTORY}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    assert answer.note == note
    assert "Ada Hollins" in (answer.search_query or "")


def test_a_question_without_history_is_searched_as_asked(
    loaded: TestClient, searched: list[str]
) -> None:
    answer = Answer.model_validate(loaded.post("/ask", json={"question": QUESTION}).json())
    assert answer.search_query == QUESTION
    assert searched == [QUESTION]
    assert "rewrite" not in answer.timings


def test_an_unusable_rewrite_falls_back_to_the_follow_up_alone_and_after_the_question_before(
    loaded: TestClient, searched: list[str]
) -> None:
    # A follow-up ("and ...") without a pronoun: the fake model repeats it, which is no rewrite.
    body = {"question": "And how many kinds of apple?", "history": ORCHARD_HISTORY}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    glued = f"{ORCHARD_HISTORY[0]['content']}\n{body['question']}"
    assert searched == [body["question"], glued]  # both searched, the results fused
    assert answer.search_query == glued  # shown as one search, not two joined
    assert answer.citations[0].filename == "orchard.pdf"


def test_a_question_that_stands_alone_is_searched_and_answered_as_if_asked_first(
    loaded: TestClient, searched: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    monkeypatch.setattr(service.generator, "rewrite", None)  # would fail if it were called
    alone = Answer.model_validate(loaded.post("/ask", json={"question": QUESTION}).json())
    body = {"question": QUESTION, "history": ORCHARD_HISTORY}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    assert searched == [QUESTION, QUESTION]  # not glued to the orchard question
    assert answer.search_query == QUESTION
    assert "rewrite" not in answer.timings
    assert (answer.answer, answer.citations) == (alone.answer, alone.citations)


def test_without_a_rewrite_the_pronoun_is_read_as_the_phrase_the_documents_bear_out(
    loaded: TestClient, searched: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    monkeypatch.setattr(service.settings.generation, "rewrite", False)
    monkeypatch.setattr(service.generator, "rewrite", None)  # would fail if it were called
    asked: list[tuple[str, int]] = []
    original = service.generator.stream

    def spy(
        question: str, sources: list, strategy: str, sampling: object, history: list, *rest, **kw
    ):  # noqa: ANN002, ANN003, ANN202
        asked.append((question, len(history)))
        return original(question, sources, strategy, sampling, history, *rest, **kw)

    monkeypatch.setattr(service.generator, "stream", spy)
    body = {"question": "How many kinds of apple does it grow?", "history": ORCHARD_HISTORY}
    answer = Answer.model_validate(loaded.post("/ask", json=body).json())
    # "it" read as each phrase of the question before; "Hollins orchard" matches a chunk best.
    assert searched == ["How many kinds of apple does Hollins orchard grow?"]
    assert answer.search_query == searched[0]
    assert asked == [(searched[0], 0)]  # answered as that question, without the turns before
    assert answer.question == body["question"]
    assert "forty kinds of apple" in answer.answer
    assert answer.citations[0].filename == "orchard.pdf"


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
    assert answer.search_query == "And who was Elmstead reservoir's engineer?"  # a reading
    assert answer.question == body["question"]


def test_every_generation_control_reaches_the_model(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict = {}
    original = QuotingChatModel._stream

    def spy(self: QuotingChatModel, messages: list, stop: object = None, **kwargs: object):  # noqa: ANN202
        seen.update(kwargs, stop=stop)
        return original(self, messages, stop, **kwargs)

    monkeypatch.setattr(QuotingChatModel, "_stream", spy)
    body = {
        "question": QUESTION,
        "temperature": 0.2,
        "top_p": 0.8,
        "top_k_tokens": 30,
        "max_tokens": 64,
        "repetition_penalty": 1.15,
        "stop": ["\n\n"],
        "seed": 11,
        "bad_words": ["reservoir"],
    }
    assert loaded.post("/ask", json=body).status_code == 200
    assert (seen["temperature"], seen["top_p"], seen["seed"]) == (0.2, 0.8, 11)
    assert (seen["max_tokens"], seen["stop"]) == (64, ["\n\n"])
    assert seen["extra_body"] == {
        "max_tokens": 64,
        "top_k": 30,
        "repetition_penalty": 1.15,
        "bad_words": ["reservoir", "Reservoir", "RESERVOIR"],
    }


@pytest.mark.parametrize(
    "field",
    [
        {"top_k_tokens": -1},
        {"top_k_tokens": "5"},
        {"bad_words": ["  "]},
        {"bad_words": ["x" * 65]},
        {"bad_words": "Quill"},
        {"seed": 2**64},
        {"stop": ["a", "b", "c", "d", "e"]},
    ],
)
def test_bad_generation_controls_are_422(loaded: TestClient, field: dict) -> None:
    response = loaded.post("/ask", json={"question": QUESTION, **field})
    assert response.status_code == 422
    assert error_of(response)["code"] in ("invalid_request", "too_long")


def test_any_string_over_its_limit_is_named_where_it_is(loaded: TestClient) -> None:
    response = loaded.post("/ask", json={"question": QUESTION, "bad_words": ["ok", "x" * 65]})
    assert response.status_code == 422
    error = ErrorBody.model_validate(response.json()).error
    assert (error.code, error.message) == (
        "too_long",
        "The bad_words[1] is 65 characters long; the limit is 64.",
    )


@pytest.fixture
def looping(loaded: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The fake model loops unless the repetition penalty is at least 1.3: the retry's."""
    generator = loaded.app.state.kbqa.generator  # type: ignore[attr-defined]
    monkeypatch.setattr(generator, "chat", QuotingChatModel(loops_below_penalty=1.3))
    return loaded


def test_a_loop_is_retried_and_reported_in_the_json_answer(looping: TestClient) -> None:
    answer = Answer.model_validate(looping.post("/ask", json={"question": QUESTION}).json())
    assert answer.answer.count("Margaret Quill") == 1
    assert answer.citations[0].page == 2
    assert answer.guard is not None
    assert (answer.guard.action, answer.guard.attempts) == ("retried", 2)
    (event,) = answer.guard.events
    assert event.reason == "repetition"
    assert event.seq_rep_4 is not None
    assert event.seq_rep_4 >= 0.6


def test_a_loop_in_a_stream_is_discarded_then_answered_again(looping: TestClient) -> None:
    response = looping.post("/ask", json={"question": QUESTION, "stream": True})
    events = sse(response.text)
    names = [event for event, _ in events]
    assert names.count("discard") == 1
    cut = names.index("discard")
    assert events[cut][1]["reason"] == "repetition"
    before = "".join(data["text"] for event, data in events[:cut] if event == "token")
    after = "".join(data["text"] for event, data in events[cut:] if event == "token")
    assert before.count("Margaret Quill") >= 2  # the loop, already sent, then taken back
    answer = Answer.model_validate(events[-1][1])
    assert names[-1] == "answer"
    assert after == answer.answer
    assert answer.guard is not None
    assert answer.guard.action == "retried"


def test_a_model_that_keeps_looping_is_cut_after_one_copy(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = loaded.app.state.kbqa.generator  # type: ignore[attr-defined]
    monkeypatch.setattr(generator, "chat", QuotingChatModel(loops_below_penalty=2.5))
    answer = Answer.model_validate(loaded.post("/ask", json={"question": QUESTION}).json())
    assert answer.answer.count("Margaret Quill") == 1
    assert answer.guard is not None
    assert (answer.guard.action, answer.guard.attempts) == ("truncated", 2)


@pytest.mark.parametrize("stream", [False, True])
def test_a_banned_word_is_never_sent(loaded: TestClient, stream: bool) -> None:
    body = {"question": QUESTION, "bad_words": ["quill"], "stream": stream}
    response = loaded.post("/ask", json=body)
    assert response.status_code == 200
    if stream:
        events = sse(response.text)
        assert not any(
            "Quill" in data.get("text", "") for event, data in events if event == "token"
        )
        payload = events[-1][1]
    else:
        payload = response.json()
    answer = Answer.model_validate(payload)
    assert "Quill" not in answer.answer
    assert answer.citations == []
    assert answer.guard is not None
    assert answer.guard.action == "withheld"
    assert answer.guard.events[0].word == "quill"
