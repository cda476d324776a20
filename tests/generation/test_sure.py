"""A refusal when the best passage matches the question closely: asked again, once."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from core.settings import GenerationSettings
from core.types import STRATEGIES, Answer, Chunk, Discard, Hit, Strategy
from generation.generator import Generator, final_answer
from generation.prompts import REFUSAL, build_messages, system_message

SOURCE = "Singlet oxygen is produced in the troposphere by the photolysis of ozone."
QUESTION = "By what process is singlet oxygen made in the troposphere?"


class Recording(GenericFakeChatModel):
    """Replies from a list, and keeps the system message of each call."""

    systems: list[str] = []

    def _stream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.systems.append(str(messages[0].content))
        return super()._stream(messages, *args, **kwargs)


def _hit(text: str, rerank: float) -> Hit:
    chunk = Chunk(
        document_id="d", ordinal=0, text=text, page_start=4, page_end=4, char_start=0, char_end=1
    )
    return Hit(
        chunk=chunk, collection="c", filename="oxygen.pdf", score=1.0, scores={"rerank": rerank}
    )


def _ask(*replies: str, sure: bool) -> tuple[list[object], Recording]:
    chat = Recording(messages=iter(AIMessage(r) for r in replies), systems=[])
    generator = Generator(chat, "m", GenerationSettings())
    items = list(generator.stream(QUESTION, [_hit(SOURCE, 0.7)], "zero-shot", sure=sure))
    return items, chat


def test_a_sure_refusal_is_asked_again_told_the_sources_hold_the_answer() -> None:
    items, chat = _ask(REFUSAL, "the photolysis of ozone", sure=True)
    answer = final_answer(items)  # type: ignore[arg-type]
    assert answer.answer.startswith("the photolysis of ozone")
    assert answer.grounded
    assert [d.reason for d in items if isinstance(d, Discard)] == ["refusal"]
    assert answer.guard is not None
    assert answer.guard.action == "retried"
    assert [e.reason for e in answer.guard.events] == ["refusal"]
    first, second = chat.systems
    assert "reply exactly" in first
    assert "reply exactly" not in second
    assert second.endswith("The sources contain the answer.")


def test_a_second_refusal_stands_and_an_unsure_one_is_not_asked_again() -> None:
    items, chat = _ask(REFUSAL, REFUSAL, sure=True)
    assert not final_answer(items).grounded  # type: ignore[arg-type]
    assert len(chat.systems) == 2  # once more, no more
    items, chat = _ask(REFUSAL, "unused", sure=False)
    assert not final_answer(items).grounded  # type: ignore[arg-type]
    assert len(chat.systems) == 1


def test_a_sure_answer_is_not_asked_again() -> None:
    items, chat = _ask("the photolysis of ozone", "unused", sure=True)
    assert isinstance(items[-1], Answer)
    assert items[-1].guard is None
    assert len(chat.systems) == 1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_has_a_sure_rule_in_place_of_its_refusal_rule(strategy: Strategy) -> None:
    plain, sure = str(system_message(strategy).content), str(system_message(strategy, True).content)
    assert REFUSAL in plain
    assert "{" not in plain
    assert plain == str(build_messages(strategy, QUESTION, [])[0].content)
    assert "The sources contain the answer." in sure
    assert sure.split("\n\nExample:")[0] != plain.split("\n\nExample:")[0]
