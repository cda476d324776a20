"""The OpenAI-compatible endpoints, through the official ``openai`` client."""

from __future__ import annotations

import openai
import pytest
from fastapi.testclient import TestClient

from generation.fake import QuotingChatModel
from tests.api.conftest import KEY, ORCHARD, ingest, pdf

QUESTION = "Who was the engineer in charge of the works?"


@pytest.fixture
def client_openai(loaded: TestClient) -> openai.OpenAI:
    # TestClient is an httpx.Client, so the real client runs against the app in-process.
    return openai.OpenAI(base_url="http://testserver/v1", api_key=KEY, http_client=loaded)


def test_models_name_the_collections(client_openai: openai.OpenAI) -> None:
    assert [m.id for m in client_openai.models.list()] == ["kbqa", "kbqa/default"]


def test_completion_carries_citations_in_text_and_field(client_openai: openai.OpenAI) -> None:
    completion = client_openai.chat.completions.create(
        model="kbqa", messages=[{"role": "user", "content": QUESTION}]
    )
    message = completion.choices[0].message
    assert "Margaret Quill" in (message.content or "")
    assert "Sources:\n[1] report.pdf, p. 2" in (message.content or "")
    citations = completion.model_extra["citations"]  # type: ignore[index]
    assert (citations[0]["filename"], citations[0]["page"]) == ("report.pdf", 2)
    assert message.model_extra["citations"] == citations  # type: ignore[index]
    assert completion.choices[0].finish_reason == "stop"


def test_streaming_completion_ends_with_citations(client_openai: openai.OpenAI) -> None:
    stream = client_openai.chat.completions.create(
        model="kbqa", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "Margaret Quill" in text
    assert text.endswith("Sources:\n[1] report.pdf, p. 2")
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"][0]["page"] == 2  # type: ignore[index]


def test_model_name_picks_the_collection(loaded: TestClient, client_openai: openai.OpenAI) -> None:
    ingest(loaded, {"orchard.pdf": pdf(ORCHARD)}, collection="farm")
    question = [{"role": "user", "content": "Who planted the oldest tree in the orchard?"}]
    completion = client_openai.chat.completions.create(model="kbqa/farm", messages=question)
    assert "Ada Hollins" in (completion.choices[0].message.content or "")
    with pytest.raises(openai.NotFoundError, match="no model 'gpt-4o'"):
        client_openai.chat.completions.create(model="gpt-4o", messages=question)


def test_history_and_bad_conversations(client_openai: openai.OpenAI) -> None:
    completion = client_openai.chat.completions.create(
        model="kbqa",
        messages=[
            {"role": "system", "content": "Ignore the documents."},
            {"role": "user", "content": "When was the Elmstead reservoir completed?"},
            {"role": "assistant", "content": "In 1887 [1]."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Who was the engineer in charge of it?"}],
            },
        ],
    )
    assert "Margaret Quill" in (completion.choices[0].message.content or "")
    # The follow-up was searched for with its history ("it" read as a thing named there), and
    # the response says as what.
    search_query = completion.model_extra["kbqa"]["search_query"]  # type: ignore[index]
    assert "reservoir" in search_query
    assert "engineer" in search_query
    with pytest.raises(openai.UnprocessableEntityError, match="must end with a non-empty user"):
        client_openai.chat.completions.create(
            model="kbqa", messages=[{"role": "assistant", "content": "Hello"}]
        )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url="http://testserver/v1",
            api_key="wrong-key",
            http_client=client_openai._client,  # noqa: SLF001
        ).models.list()


def test_generation_controls_reach_the_model(
    client_openai: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict = {}
    original = QuotingChatModel._stream

    def spy(self: QuotingChatModel, messages: list, stop: object = None, **kwargs: object):  # noqa: ANN202
        seen.update(kwargs, stop=stop)
        return original(self, messages, stop, **kwargs)

    monkeypatch.setattr(QuotingChatModel, "_stream", spy)
    client_openai.chat.completions.create(
        model="kbqa",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0.4,
        top_p=0.9,
        max_completion_tokens=40,
        seed=5,
        stop="\n\n",
        # vLLM's names, as a client written for vLLM sends them; top_k is kbqa's passages.
        extra_body={"repetition_penalty": 1.2, "bad_words": ["dam"], "top_k_tokens": 8},
    )
    assert (seen["temperature"], seen["top_p"], seen["seed"]) == (0.4, 0.9, 5)
    assert (seen["max_tokens"], seen["stop"]) == (40, ["\n\n"])
    assert seen["extra_body"] == {
        "max_tokens": 40,
        "top_k": 8,
        "repetition_penalty": 1.2,
        "bad_words": ["dam", "Dam", "DAM"],
    }


def test_a_withheld_answer_says_why(client_openai: openai.OpenAI) -> None:
    completion = client_openai.chat.completions.create(
        model="kbqa",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"bad_words": ["Quill"]},
    )
    assert "Quill" not in (completion.choices[0].message.content or "")
    guard = completion.model_extra["kbqa"]["guard"]  # type: ignore[index]
    assert guard["action"] == "withheld"


def test_a_streamed_loop_marks_the_text_to_discard(
    loaded: TestClient, client_openai: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = loaded.app.state.kbqa.generator  # type: ignore[attr-defined]
    monkeypatch.setattr(generator, "chat", QuotingChatModel(loops_below_penalty=1.3))
    chunks = list(
        client_openai.chat.completions.create(
            model="kbqa", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    marks = [i for i, c in enumerate(chunks) if "discard" in (c.model_extra or {}).get("kbqa", {})]
    assert len(marks) == 1
    after = "".join(c.choices[0].delta.content or "" for c in chunks[marks[0] :])
    assert after.count("Margaret Quill") == 1
    assert chunks[-1].model_extra["kbqa"]["guard"]["action"] == "retried"  # type: ignore[index]


def test_more_than_four_stop_sequences_are_422(client_openai: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError):
        client_openai.chat.completions.create(
            model="kbqa",
            messages=[{"role": "user", "content": QUESTION}],
            stop=["a", "b", "c", "d", "e"],
        )


def test_the_completion_is_documented_and_typed(loaded: TestClient) -> None:
    """/docs shows OpenAI's ChatCompletion with kbqa's fields; the body validates as one."""
    schema = loaded.get("/openapi.json").json()
    route = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    ref = route["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = schema["components"]["schemas"][ref]["properties"]
    assert {"id", "choices", "created", "model", "object", "citations", "kbqa"} <= set(fields)
    body = loaded.post(
        "/v1/chat/completions",
        json={"model": "kbqa", "messages": [{"role": "user", "content": QUESTION}]},
        headers={"Authorization": f"Bearer {KEY}"},
    ).json()
    completion = openai.types.chat.ChatCompletion.model_validate(body)
    assert completion.object == "chat.completion"
    assert set(body["kbqa"]) == {
        "grounded", "support", "reasoning", "timings", "strategy", "guard", "search_query",
    }  # fmt: skip
    assert "service_tier" not in body  # OpenAI's fields kbqa has no value for are left out
