"""The OpenAI-compatible endpoints, through the official ``openai`` client."""

from __future__ import annotations

import openai
import pytest
from fastapi.testclient import TestClient

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
            {"role": "user", "content": [{"type": "text", "text": "Who was its engineer?"}]},
        ],
    )
    assert "Margaret Quill" in (completion.choices[0].message.content or "")
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
