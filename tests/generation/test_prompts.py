from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from core.types import STRATEGIES, Chunk, Hit
from generation.prompts import REFUSAL, build_messages, select_context


def _hit(text: str, page: int = 1, page_end: int | None = None) -> Hit:
    chunk = Chunk(
        document_id="d",
        ordinal=0,
        text=text,
        page_start=page,
        page_end=page_end or page,
        char_start=0,
        char_end=1,
    )
    return Hit(chunk=chunk, collection="c", filename="report.pdf", score=1.0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_numbers_sources_with_file_and_page(strategy: str) -> None:
    messages = build_messages(
        strategy, "What grew?", [_hit("Revenue grew.", 4), _hit("Costs fell.", 5, 6)]
    )  # type: ignore[arg-type]
    assert isinstance(messages[0], SystemMessage)
    assert REFUSAL in messages[0].content
    last = messages[-1].content
    assert "[1] (report.pdf, page 4)\nRevenue grew." in last
    assert "[2] (report.pdf, pages 5-6)" in last
    assert last.endswith("Question: What grew?")


def test_few_shot_adds_worked_examples() -> None:
    messages = build_messages("few-shot", "q", [_hit("x")])
    assert sum(isinstance(m, AIMessage) for m in messages) >= 2
    assert any(isinstance(m, AIMessage) and m.content == REFUSAL for m in messages)
    assert (
        sum(isinstance(m, HumanMessage) for m in messages)
        == sum(isinstance(m, AIMessage) for m in messages) + 1
    )


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="strategy must be one of"):
        build_messages("tree-of-thought", "q", [])  # type: ignore[arg-type]


def test_context_drops_weak_chunks_whole() -> None:
    hits = [_hit("a" * 50), _hit("b" * 40), _hit("c" * 10)]
    assert [h.chunk.text[0] for h in select_context(hits, 65)] == ["a", "c"]
    assert [h.chunk.text[0] for h in select_context(hits, 10)] == ["a"]  # the best is always kept
