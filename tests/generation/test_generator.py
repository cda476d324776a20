from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from core.settings import GenerationSettings
from core.types import Answer, Chunk, Hit
from generation.generator import Generator
from generation.prompts import REFUSAL


def _generator(reply: str) -> Generator:
    chat = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    return Generator(chat, "fake-model", GenerationSettings())


HITS = [
    Hit(
        chunk=Chunk(
            document_id="d1",
            ordinal=0,
            text="Penguins eat krill.",
            page_start=7,
            page_end=7,
            char_start=0,
            char_end=18,
        ),
        collection="c",
        filename="birds.pdf",
        score=0.9,
    )
]


def test_stream_yields_text_then_the_cited_answer() -> None:
    items = list(
        _generator("They eat krill [1].").stream("What do penguins eat?", HITS, "zero-shot")
    )
    text = "".join(i for i in items if isinstance(i, str))
    answer = items[-1]
    assert isinstance(answer, Answer)
    assert text == "They eat krill [1]."
    assert answer.citations[0].filename == "birds.pdf"
    assert answer.citations[0].page == 7
    assert {"prompt", "first_token", "generation"} <= set(answer.timings)


def test_chain_of_thought_returns_reasoning_separately() -> None:
    reply = "Reasoning: Source 1 talks about penguins.\nAnswer: Krill [1]."
    answer = _generator(reply).answer("What do penguins eat?", HITS, "chain-of-thought")
    assert answer.answer == "Krill [1]."
    assert answer.reasoning == "Source 1 talks about penguins."


def test_no_context_refuses_without_asking_the_model() -> None:
    answer = _generator("should not be used").answer("Anything?", [], "zero-shot")
    assert answer.answer == REFUSAL
    assert not answer.grounded
    assert answer.citations == []


def test_sampling_overrides_keep_the_models_own_request_body() -> None:
    from core.types import Sampling
    from generation.dialects import LlamaCppDialect
    from generation.generator import _request_params

    base = {"max_tokens": 384}
    params = _request_params(Sampling(temperature=0.3, repetition_penalty=1.1), base)
    assert params["temperature"] == 0.3
    assert params["extra_body"] == {"max_tokens": 384, "repetition_penalty": 1.1}
    llama = _request_params(Sampling(repetition_penalty=1.1), base, LlamaCppDialect())
    assert llama["extra_body"] == {"max_tokens": 384, "repeat_penalty": 1.1}
    assert _request_params(Sampling(max_tokens=20), base)["extra_body"] == {"max_tokens": 20}
    assert base == {"max_tokens": 384}
