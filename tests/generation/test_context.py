"""Prompts within the context window: the answer's reserve, instructions, history, sources."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from core.errors import InvalidRequestError
from core.settings import GenerationSettings
from core.types import Chunk, Hit, Sampling, Turn
from generation.context import (
    MIN_SOURCE_TOKENS,
    Window,
    assemble,
    exchanges,
    fit_history,
    select_sources,
)
from generation.generator import Generator
from generation.prompts import TRUNCATED, build_messages
from generation.tokens import TokenCounter


class WordCounter(TokenCounter):
    """A token a word: easy to reason about in a test."""

    def _count(self, text: str) -> int:
        return len(text.split())


COUNTER = WordCounter()


def _hit(letter: str, words: int, score: float = 1.0) -> Hit:
    text = " ".join(f"{letter}{i}" for i in range(words))
    chunk = Chunk(
        document_id=letter,
        ordinal=0,
        text=text,
        page_start=1,
        page_end=1,
        char_start=0,
        char_end=len(text),
    )
    return Hit(chunk=chunk, collection="c", filename=f"{letter}.pdf", score=score)


def _turns(*pairs: tuple[str, str]) -> list[Turn]:
    return [
        Turn(role=role, content=content)  # type: ignore[arg-type]
        for question, answer in pairs
        for role, content in (("user", question), ("assistant", answer))
    ]


def _fixed(strategy: str = "zero-shot", question: str = "q?") -> int:
    return COUNTER.count_messages(build_messages(strategy, question, [], []))  # type: ignore[arg-type]


# -- history ------------------------------------------------------------------------------------
HISTORY = _turns(
    ("first question " * 10, "first answer " * 10),  # 40 words + 2 x 8 markers = 56
    ("second question", "second answer"),  # 4 + 16 = 20
    ("third question", "third answer"),  # 20
)


def test_history_keeps_the_most_recent_exchanges_that_fit_whole() -> None:
    assert fit_history(HISTORY, COUNTER, 1000) == HISTORY
    assert fit_history(HISTORY, COUNTER, 40) == HISTORY[2:]
    assert fit_history(HISTORY, COUNTER, 55) == HISTORY[2:]  # the first is 56: no part of it
    assert fit_history(HISTORY, COUNTER, 19) == []
    assert fit_history(HISTORY, COUNTER, 0) == []


def test_an_answer_is_never_kept_without_its_question() -> None:
    assert [len(e) for e in exchanges(HISTORY)] == [2, 2, 2]
    lopsided = [Turn(role="assistant", content="hello"), *HISTORY[2:], HISTORY[0]]
    assert [len(e) for e in exchanges(lopsided)] == [1, 2, 2, 1]
    unanswered = HISTORY[:-1]  # the last question has no answer (yet)
    assert fit_history(unanswered, COUNTER, 29) == HISTORY[4:5]
    assert fit_history(unanswered, COUNTER, 30) == HISTORY[2:5]


def test_an_old_exchange_that_does_not_fit_ends_the_history_no_gaps() -> None:
    history = [*_turns(("small", "one")), *HISTORY]  # small, big, second, third
    kept = fit_history(history, COUNTER, 60)
    assert kept == HISTORY[2:]  # not "small" beyond the big one that did not fit


# -- sources ------------------------------------------------------------------------------------
def test_a_tight_window_drops_the_weakest_sources_whole() -> None:
    hits = [_hit("a", 50, 0.9), _hit("b", 50, 0.8), _hit("c", 50, 0.7)]
    fixed = _fixed()
    # room for two sources of 50 words (+ their "[n] (x.pdf, page 1)" header and separator)
    window = Window(tokens=fixed + 2 * 55 + 100, answer_tokens=100)
    prompt = assemble("zero-shot", "q?", hits, [], COUNTER, window)
    assert [h.filename for h in prompt.sources] == ["a.pdf", "b.pdf"]
    assert [h.chunk.text for h in prompt.sources] == [h.chunk.text for h in hits[:2]]  # whole
    assert prompt.tokens + window.answer_tokens <= window.tokens
    assert prompt.tokens == COUNTER.count_messages(prompt.messages)


def test_a_weaker_shorter_source_may_fill_room_a_longer_one_left() -> None:
    hits = [_hit("a", 60), _hit("b", 90), _hit("c", 20)]
    assert [h.filename for h in select_sources(hits, COUNTER, 100)] == ["a.pdf", "c.pdf"]


def test_the_count_covers_system_examples_history_and_the_answers_reserve() -> None:
    hits = [_hit(letter, 40) for letter in "abcdefghijklmnopqrstuvwxyz"]
    window = Window(tokens=1000, answer_tokens=100)

    def kept(strategy: str = "zero-shot", history: list[Turn] | None = None, **kw: int) -> int:
        prompt = assemble(strategy, "q?", hits, history or [], COUNTER, window, **kw)  # type: ignore[arg-type]
        limit = window.tokens - kw.get("answer_tokens", window.answer_tokens)
        assert prompt.tokens <= limit
        return len(prompt.sources)

    plain = kept()
    assert kept("few-shot") < plain  # its worked examples take room
    assert kept(history=HISTORY) < plain  # so do earlier turns
    assert kept(answer_tokens=400) < plain  # and a longer answer
    assert kept(context_tokens=100) == 2  # a cap on sources, below the window's room


def test_the_history_gets_its_budget_and_no_more() -> None:
    window = Window(tokens=4000, answer_tokens=100)
    prompt = assemble(
        "zero-shot", "q?", [_hit("a", 10)], HISTORY, COUNTER, window, history_tokens=45
    )
    assert prompt.history == HISTORY[2:]
    assert [m.content for m in prompt.messages[1:5]] == [t.content for t in HISTORY[2:]]
    assert "q?" in prompt.messages[-1].content  # the current question is always there


def test_a_single_source_too_big_for_the_window_is_cut_and_marked() -> None:
    huge = _hit("a", 1000)
    window = Window(tokens=_fixed() + 300, answer_tokens=100)
    prompt = assemble("zero-shot", "q?", [huge, _hit("b", 500)], [], COUNTER, window)
    (source,) = prompt.sources
    assert source.filename == "a.pdf"
    assert source.chunk.text.endswith(f" {TRUNCATED}")
    kept = source.chunk.text.removesuffix(f" {TRUNCATED}")
    assert huge.chunk.text.startswith(kept)
    assert kept.split()[-1] in huge.chunk.text.split()  # cut between words
    assert source.chunk.char_end == len(kept)
    assert prompt.tokens <= window.tokens - window.answer_tokens
    assert prompt.tokens > window.tokens - window.answer_tokens - 10  # and uses the room


def test_a_truncated_source_says_so_in_its_citation() -> None:
    chat = GenericFakeChatModel(messages=iter([AIMessage(content="a0 a1 a2 [1]")]))
    window = Window(tokens=_fixed() + 250, answer_tokens=100)
    generator = Generator(chat, "m", GenerationSettings(), counter=WordCounter(), window=window)
    answer = generator.answer("q?", [_hit("a", 1000)], "zero-shot")
    (citation,) = answer.citations
    assert citation.truncated
    assert citation.text.endswith(TRUNCATED)


def test_an_answer_reserve_that_leaves_no_room_is_a_clear_error() -> None:
    chat = GenericFakeChatModel(messages=iter([]))
    generator = Generator(
        chat, "m", GenerationSettings(), counter=WordCounter(), window=Window(tokens=500)
    )
    with pytest.raises(InvalidRequestError, match="500-token context window"):
        generator.answer(
            "q?", [_hit("a", 10)], "zero-shot", sampling=Sampling(max_tokens=500 - _fixed())
        )
    room = 500 - _fixed() - MIN_SOURCE_TOKENS
    assert generator.prompt("q?", [_hit("a", 10)], "zero-shot", Sampling(max_tokens=room)).sources
