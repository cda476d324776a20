"""Follow-ups rewritten to stand alone: the prompt, the model's reply, and when it is not used."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from core.settings import GenerationSettings
from core.types import Turn
from generation.context import Window
from generation.fake import QuotingChatModel, rewrite_follow_up
from generation.generator import Generator
from generation.prompts import REFUSAL
from generation.rewrite import clean_rewrite, rewrite_messages, transcript
from tests.generation.test_context import WordCounter

FOLLOW_UP = "And who was its engineer?"
HISTORY = [
    Turn(role="user", content="How high is the Elmstead dam?"),
    Turn(role="assistant", content="41 metres [1]."),
    Turn(role="user", content="When was the Elmstead reservoir completed?"),
    Turn(role="assistant", content="In 1887 [1]."),
]


class Recording(GenericFakeChatModel):
    """Replies from a list, and keeps what it was asked and with which parameters."""

    calls: list[tuple[list[BaseMessage], dict[str, Any]]] = []

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        self.calls.append((messages, {"stop": stop, **kwargs}))
        return super()._generate(messages, stop=stop, **kwargs)


def _generator(*replies: str | AIMessage, **settings: Any) -> tuple[Generator, Recording]:
    messages = [r if isinstance(r, AIMessage) else AIMessage(content=r) for r in replies]
    chat = Recording(messages=iter(messages), calls=[])
    generation = GenerationSettings(**settings)
    return Generator(chat, "m", generation, counter=WordCounter(), window=Window(4096, 384)), chat


def test_the_rewrite_prompt_holds_the_conversation_and_the_follow_up() -> None:
    system, human = rewrite_messages(FOLLOW_UP, HISTORY)
    assert "stand alone" in str(system.content)
    assert "Example:" in str(system.content)
    assert str(human.content) == (
        f"Conversation:\n{transcript(HISTORY)}\nFollow-up question: {FOLLOW_UP}\n"
        "Rewritten question:"
    )
    assert "User: When was the Elmstead reservoir completed?\nAssistant: In 1887 [1]." in str(
        human.content
    )


def test_the_models_rewrite_is_asked_greedily_and_briefly_and_returned() -> None:
    generator, chat = _generator(
        "Who was the engineer of the Elmstead reservoir?", rewrite_max_tokens=40
    )
    assert (
        generator.rewrite(FOLLOW_UP, HISTORY) == "Who was the engineer of the Elmstead reservoir?"
    )
    ((messages, params),) = chat.calls
    assert FOLLOW_UP in str(messages[-1].content)
    assert params["temperature"] == 0
    assert params["max_tokens"] == 40
    assert params["extra_body"]["max_tokens"] == 40
    assert params["stop"] == ["\n"]


def test_the_rewriter_sees_only_the_most_recent_turns_that_fit() -> None:
    generator, chat = _generator(
        "Who was the engineer of the Elmstead reservoir?", history_tokens=30
    )
    generator.rewrite(FOLLOW_UP, HISTORY)
    ((messages, _),) = chat.calls
    prompt = str(messages[-1].content)
    assert "When was the Elmstead reservoir completed?" in prompt  # the last exchange fits
    assert "How high is the Elmstead dam?" not in prompt  # the one before does not
    assert FOLLOW_UP in prompt  # the question itself always


def test_no_rewrite_when_not_even_the_last_exchange_fits() -> None:
    generator, chat = _generator("unused", history_tokens=5)
    assert generator.rewrite(FOLLOW_UP, HISTORY) is None
    assert chat.calls == []


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   \n",
        FOLLOW_UP,  # repeated unchanged
        "and  who was ITS engineer?",  # the same, but for case and spaces
        "Who was its engineer?",  # the pronoun kept: nothing resolved
        "Margaret Quill [1].",  # an answer, not a question
        "I'm sorry, but I cannot rewrite that question.",
        REFUSAL,
        "Conversation:",  # the start of another example
        "Who was the engineer " + "of the reservoir that was built " * 20 + "?",  # a ramble
    ],
)
def test_a_reply_that_is_no_rewrite_is_not_used(reply: str) -> None:
    assert clean_rewrite(reply, FOLLOW_UP) is None


def test_a_rewrite_is_taken_without_labels_quotes_or_further_lines() -> None:
    wanted = "Who was the engineer of the Elmstead reservoir?"
    assert clean_rewrite(f'Rewritten question: "{wanted}"', FOLLOW_UP) == wanted
    assert clean_rewrite(f"{wanted}\nThe engineer was...", FOLLOW_UP) == wanted
    assert clean_rewrite("Elmstead水库的工程师是谁？", "它的工程师是谁？") is not None  # CJK


@pytest.mark.parametrize(
    ("reply", "question"),
    [
        ("为什么被潇洒哥取笑？", "它为什么被潇洒哥取笑？"),  # the subject dropped
        ("如今的它被誉为什么？", "如今的它被誉为什么？ "),  # 它 kept
        ("在1982年，它发生了什么？", "在1982年，它发生了什么事情？"),
        ("Who was the engineer of the bridge in Kent?", FOLLOW_UP),  # names never used
    ],
)
def test_a_rewrite_must_resolve_from_the_conversation(reply: str, question: str) -> None:
    history = [Turn(role="user", content="木咀C为什么被潇洒哥取笑？"), *HISTORY]
    assert clean_rewrite(reply, question, history) is None
    wanted = "Who was the engineer of the Elmstead reservoir?"
    assert clean_rewrite(wanted, FOLLOW_UP, HISTORY) == wanted
    assert clean_rewrite("木咀C为什么被潇洒哥取笑？", "它为什么被潇洒哥取笑？", history)


def test_a_rewrite_cut_off_at_max_tokens_is_not_used() -> None:
    cut = AIMessage(
        content="Who was the engineer of", response_metadata={"finish_reason": "length"}
    )
    generator, _ = _generator(cut)
    assert generator.rewrite(FOLLOW_UP, HISTORY) is None


def test_the_fake_model_rewrites_deterministically() -> None:
    conversation = transcript(HISTORY)
    assert rewrite_follow_up(conversation, FOLLOW_UP) == "And who was Elmstead's engineer?"
    assert rewrite_follow_up(conversation, "Is it old?") == "Is Elmstead old?"
    assert rewrite_follow_up(conversation, "Who built dams?") == "Who built dams?"
    generator = Generator(QuotingChatModel(), "fake", GenerationSettings())
    assert generator.rewrite(FOLLOW_UP, HISTORY) == "And who was Elmstead's engineer?"
    assert generator.rewrite("Who built dams?", HISTORY) is None  # no pronoun: nothing to do


def test_a_pronoun_never_stands_for_a_number_date_or_amount() -> None:
    """Asked "Who did he work with?" after a question whose answer was a number, the 0.5B
    model rewrote it as "What other inventor did 802 work with?"."""
    history = [
        Turn(role="user", content="How many wildebeest crossed the river in 1998?"),
        Turn(role="assistant", content="802 [1]."),
    ]
    assert (
        clean_rewrite("What other inventor did 802 work with?", "Who did he work with?", history)
        is None
    )
    assert clean_rewrite("Who did the 1998 crossing work with?", "Who did he work with?", history)
