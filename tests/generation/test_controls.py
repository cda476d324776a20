"""Generation controls as they reach the server, through the real ChatOpenAI client, and the
output guard: loops and banned words stopped, retried, and reported on the answer."""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import GenerationSettings, LLMSettings
from core.types import Answer, AnswerItem, Chunk, Discard, Guard, GuardEvent, Hit, Sampling
from generation.dialects import LlamaCppDialect, LlamaCppVocabulary, VllmDialect
from generation.generator import WITHHELD, Generator, make_chat_model
from tests.utils.chat_server import BASE_URL, FakeChatServer

QUESTION = "When was the dam built, and by whom?"
TEXT = "The dam was built in 1887. The engineer was Margaret Quill."
HITS = [
    Hit(
        chunk=Chunk(
            document_id="d1",
            ordinal=0,
            text=TEXT,
            page_start=2,
            page_end=2,
            char_start=0,
            char_end=len(TEXT),
        ),
        collection="c",
        filename="report.pdf",
        score=1.0,
    )
]
# Qwen-like tokens for the spellings of "Quill", and "1887" as single digits.
TOKENS = {
    "Quill": [21, 22],
    " Quill": [31, 22],
    "quill": [41, 22],
    " quill": [51, 22],
    "QUILL": [61, 62],
    " QUILL": [71, 62],
    "1887": [16, 23, 23, 22],
    " 1887": [220, 16, 23, 23, 22],
}
PIECES = {21: "Qu", 22: "ill", 31: " Qu", 41: "qu", 51: " qu", 61: "QU", 62: "ILL", 71: " QU"}
PIECES |= {16: "1", 23: "8", 220: " "}
LOOP = "The dam was built in 1887 [1]. " * 100


def _generator(
    server: FakeChatServer, dialect: str, settings: GenerationSettings | None = None
) -> Generator:
    chat = make_chat_model(LLMSettings(), BASE_URL, http_client=server.client())
    vocabulary = LlamaCppVocabulary(BASE_URL, "key", transport=server.transport)
    server_dialect = LlamaCppDialect(vocabulary) if dialect == "llama.cpp" else VllmDialect()
    return Generator(chat, "m", settings or GenerationSettings(), server_dialect)


def _run(generator: Generator, **sampling: Any) -> list[AnswerItem]:
    return list(generator.stream(QUESTION, HITS, "zero-shot", Sampling(**sampling)))


def _text_sent(items: list[AnswerItem]) -> str:
    return "".join(i for i in items if isinstance(i, str))


@pytest.mark.parametrize("dialect", ["vllm", "llama.cpp"])
def test_openai_fields_reach_either_server(dialect: str) -> None:
    server = FakeChatServer(tokens=TOKENS, pieces=PIECES)
    items = _run(
        _generator(server, dialect), temperature=0.3, top_p=0.9, max_tokens=50, seed=7, stop=["##"]
    )
    (body,) = server.bodies
    assert body["stream"] is True
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.3, 0.9, 7)
    assert body["stop"] == ["##"]
    assert body["max_tokens"] == 50  # in the body, where llama.cpp reads it
    assert isinstance(items[-1], Answer)
    assert items[-1].guard is None


def test_vllm_gets_its_own_names() -> None:
    server = FakeChatServer()
    _run(_generator(server, "vllm"), top_k_tokens=20, repetition_penalty=1.15, bad_words=["Quill"])
    _run(_generator(server, "vllm"), top_k_tokens=0)
    first, second = server.bodies
    assert first["top_k"] == 20
    assert first["repetition_penalty"] == 1.15
    assert first["bad_words"] == ["Quill", "quill", "QUILL"]
    assert not {"repeat_penalty", "logit_bias"} & set(first)
    assert second["top_k"] == -1  # "all tokens" in every vLLM version


def test_llama_cpp_gets_its_own_names_and_a_logit_bias() -> None:
    server = FakeChatServer(tokens=TOKENS, pieces=PIECES)
    generator = _generator(server, "llama.cpp")
    _run(generator, top_k_tokens=20, repetition_penalty=1.15, bad_words=["Quill"])
    _run(generator, top_k_tokens=0)
    first, second = server.bodies
    assert first["top_k"] == 20
    assert first["repeat_penalty"] == 1.15
    # The first token of each spelling, with and without a leading space.
    assert first["logit_bias"] == {str(t): -100 for t in (21, 31, 41, 51, 61, 71)}
    assert not {"repetition_penalty", "bad_words"} & set(first)
    assert second["top_k"] == 0


def test_llama_cpp_never_bans_a_one_character_token() -> None:
    server = FakeChatServer("It was finished in 1887 [1].", tokens=TOKENS, pieces=PIECES)
    items = _run(_generator(server, "llama.cpp"), bad_words=["1887"])
    assert "logit_bias" not in server.bodies[0]  # "1", " " would be banned everywhere
    assert "1887" not in _text_sent(items)  # the text check still keeps it out


def test_a_banned_word_is_held_back_then_retried_with_every_token_banned() -> None:
    server = FakeChatServer(
        "The engineer was Margaret Quill [1].", "Margaret [1].", tokens=TOKENS, pieces=PIECES
    )
    items = _run(_generator(server, "llama.cpp"), bad_words=["quill"])
    discard = next(i for i in items if isinstance(i, Discard))
    assert discard.reason == "banned_word"
    assert "Quill" not in _text_sent(items)
    answer = items[-1]
    assert isinstance(answer, Answer)
    assert answer.answer == "Margaret [1]."
    assert answer.guard == Guard(
        action="retried", attempts=2, events=[GuardEvent(reason="banned_word", word="quill")]
    )
    first, retry = (set(b["logit_bias"]) for b in server.bodies)
    assert first < retry
    assert {"22", "62"} <= retry  # every token of every spelling


def test_a_banned_word_that_keeps_coming_is_withheld_not_returned() -> None:
    server = FakeChatServer("Margaret Quill [1].", tokens=TOKENS, pieces=PIECES)
    items = _run(_generator(server, "llama.cpp"), bad_words=["Quill"])
    answer = items[-1]
    assert isinstance(answer, Answer)
    assert answer.answer == WITHHELD
    assert "Quill" not in answer.model_dump_json(exclude={"guard"})  # the guard names it
    assert "Quill" not in _text_sent(items)
    assert (answer.grounded, answer.citations) == (False, [])
    assert answer.guard is not None
    assert (answer.guard.action, answer.guard.attempts) == ("withheld", 2)


def test_vllm_withholds_at_once_since_a_retry_would_ban_no_more() -> None:
    server = FakeChatServer("Margaret Quill [1].")
    answer = _run(_generator(server, "vllm"), bad_words=["Quill"])[-1]
    assert isinstance(answer, Answer)
    assert answer.guard is not None
    assert (answer.guard.action, answer.guard.attempts) == ("withheld", 1)
    assert len(server.bodies) == 1


@pytest.mark.parametrize(
    ("dialect", "field"), [("vllm", "repetition_penalty"), ("llama.cpp", "repeat_penalty")]
)
def test_a_loop_is_stopped_early_and_retried_with_a_stronger_penalty(
    dialect: str, field: str
) -> None:
    server = FakeChatServer(LOOP, "The dam was built in 1887 [1].")
    items = _run(_generator(server, dialect), repetition_penalty=1.2)
    assert server.chunks_sent[0] < 40  # of 700: the looping request was ended early
    discard = next(i for i in items if isinstance(i, Discard))
    assert discard.reason == "repetition"
    assert server.bodies[0][field] == 1.2
    assert server.bodies[1][field] == 1.4  # 0.2 more, and at least retry_repetition_penalty
    answer = items[-1]
    assert isinstance(answer, Answer)
    assert answer.answer == "The dam was built in 1887 [1]."
    assert answer.guard is not None
    assert (answer.guard.action, answer.guard.attempts) == ("retried", 2)
    assert answer.guard.events[0].reason == "repetition"
    assert answer.guard.events[0].seq_rep_4 is not None


def test_the_retry_penalty_is_at_least_the_configured_one() -> None:
    server = FakeChatServer(LOOP, "The dam was built in 1887 [1].")
    _run(_generator(server, "vllm"))
    assert "repetition_penalty" not in server.bodies[0]
    assert server.bodies[1]["repetition_penalty"] == 1.3


def test_a_model_that_loops_again_is_cut_where_the_loop_began() -> None:
    server = FakeChatServer(LOOP)
    answer = _run(_generator(server, "vllm"))[-1]
    assert isinstance(answer, Answer)
    assert answer.answer == "The dam was built in 1887 [1]."
    assert answer.citations[0].page == 2
    assert answer.guard is not None
    assert (answer.guard.action, answer.guard.attempts) == ("truncated", 2)
    assert len(server.bodies) == 2


def test_the_repetition_guard_can_be_switched_off() -> None:
    server = FakeChatServer(LOOP)
    settings = GenerationSettings(repetition_guard=False)
    answer = _run(_generator(server, "vllm", settings))[-1]
    assert isinstance(answer, Answer)
    assert answer.guard is None
    assert server.chunks_sent == [700]


def test_a_retry_that_stops_looping_but_writes_a_banned_word_gets_its_own_retry() -> None:
    # What Qwen did with "Margaret" banned: it looped, and its retry wrote "Marg" + "aret".
    server = FakeChatServer(
        LOOP, "Margaret Quill [1].", "Margaret [1].", tokens=TOKENS, pieces=PIECES
    )
    answer = _run(_generator(server, "llama.cpp"), bad_words=["Quill"])[-1]
    assert isinstance(answer, Answer)
    assert answer.answer == "Margaret [1]."
    assert answer.guard is not None
    assert (answer.guard.action, answer.guard.attempts) == ("retried", 3)
    assert [e.reason for e in answer.guard.events] == ["repetition", "banned_word"]
    last = server.bodies[2]
    assert last["repeat_penalty"] == 1.3  # both remedies at once
    assert {"22", "62"} <= set(last["logit_bias"])
