"""Citations numbered as in a paper: from [1], in order of first mention, in the streamed text,
the final answer and its source list alike."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from core.settings import GenerationSettings
from core.types import Answer, Chunk, Hit
from generation.generator import Generator
from generation.parsing import Renumbering

TEXTS = ["Penguins eat krill.", "Penguins eat fish.", "Penguins live in the south."]
HITS = [
    Hit(
        chunk=Chunk(
            document_id=f"d{i}",
            ordinal=0,
            text=text,
            page_start=i,
            page_end=i,
            char_start=0,
            char_end=len(text),
        ),  # fmt: skip
        collection="c",
        filename=f"birds-{i}.pdf",
        score=1 - i / 10,
    )
    for i, text in enumerate(TEXTS, 1)
]


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("Fish [2] and krill [1].", "Fish [1] and krill [2]."),
        ("Fish [3], krill [3][1, 3].", "Fish [1], krill [1][2, 1]."),
        ("Fish [9] and krill [2, 9].", "Fish  and krill [1]."),  # no source 9 of 3
        ("Fish [2，3].", "Fish [1, 2]."),
    ],
)
def test_numbers_follow_first_mention(model: str, shown: str) -> None:
    assert Renumbering(3).text(model) == shown


def test_a_marker_split_between_streamed_pieces_is_held_until_it_closes() -> None:
    text = "Fish [3] and krill [1, 3]. Also [2]"
    numbering = Renumbering(3)
    streamed = "".join(numbering.feed(char) for char in text) + numbering.flush()
    assert streamed == "Fish [1] and krill [2, 1]. Also [3]"
    assert Renumbering(3).text(text) == streamed


def test_a_bracket_that_is_no_marker_is_sent_on() -> None:
    numbering = Renumbering(2)
    assert numbering.feed("see [") == "see "
    assert numbering.feed("note] here") == "[note] here"


def _answer(reply: str, strategy: str = "zero-shot") -> tuple[str, Answer]:
    chat = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    items = list(Generator(chat, "fake", GenerationSettings()).stream("What?", HITS, strategy))
    answer = items[-1]
    assert isinstance(answer, Answer)
    return "".join(i for i in items if isinstance(i, str)), answer


def test_the_stream_the_answer_and_its_sources_agree() -> None:
    streamed, answer = _answer("Penguins eat fish [2] and krill [1].")
    assert streamed == answer.answer == "Penguins eat fish [1] and krill [2]."
    assert [(c.n, c.filename) for c in answer.citations] == [
        (1, "birds-2.pdf"),
        (2, "birds-1.pdf"),
    ]


def test_one_source_cited_is_source_1() -> None:
    streamed, answer = _answer("Penguins live in the south [3].")
    assert streamed == answer.answer == "Penguins live in the south [1]."
    assert [(c.n, c.filename) for c in answer.citations] == [(1, "birds-3.pdf")]


def test_reasoning_and_answer_share_the_numbers() -> None:
    reply = "Reasoning: Source [3] says where.\nAnswer: In the south [3]."
    streamed, answer = _answer(reply, "chain-of-thought")
    assert answer.reasoning == "Source [1] says where."
    assert answer.answer == "In the south [1]."
    assert "[3]" not in streamed
    assert [c.n for c in answer.citations] == [1]


def test_a_citation_replaced_by_the_source_that_holds_it_is_still_1() -> None:
    _, answer = _answer("Krill [2].")  # source 2 is about fish: source 1 holds it
    assert answer.answer == "Krill [1]."
    assert [(c.n, c.filename) for c in answer.citations] == [(1, "birds-1.pdf")]
