"""A question translated into its documents' language: the model's reply is taken only where it
is a translation, a question in the language asked for."""

from __future__ import annotations

import pytest

from generation.translate import clean_translation, translate_messages

APOLLO = "阿波罗计划是哪一年结束的？"


def test_the_prompt_shows_worked_examples_then_the_labelled_question() -> None:
    system, human = translate_messages(APOLLO, "en")
    assert "Do not answer them" in str(system.content)
    assert "Chinese: 埃菲尔铁塔是哪一年建成的？\nEnglish: In what year" in str(system.content)
    assert human.content == f"Chinese: {APOLLO}\nEnglish:"
    _, into_chinese = translate_messages("Who founded Harvard?", "zh")
    assert into_chinese.content == "English: Who founded Harvard?\nChinese:"


@pytest.mark.parametrize(
    ("reply", "question", "into", "expected"),
    [
        ("When did the Apollo program end?", APOLLO, "en", "When did the Apollo program end?"),
        (
            "English: When did the Apollo program end?\n",
            APOLLO,
            "en",
            "When did the Apollo program end?",
        ),
        ('"哈佛大学是谁创立的？"', "Who founded Harvard?", "zh", "哈佛大学是谁创立的？"),
    ],
)
def test_a_translation_is_taken_without_its_label_or_quotes(
    reply: str, question: str, into: str, expected: str
) -> None:
    assert clean_translation(reply, question, into) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "question", "into"),
    [
        ("Apollo Program ended in 1972.", APOLLO, "en"),  # an answer, as the 1.5B gave
        ("新疆的首府是乌鲁木齐。", "What is the capital of Xinjiang?", "zh"),  # the same
        (APOLLO, APOLLO, "en"),  # the question again
        ("阿波罗计划何时结束？", APOLLO, "en"),  # not in the language asked for
        ("", APOLLO, "en"),
        ("The documents do not contain the answer.", APOLLO, "en"),
        ("Why? " * 60, APOLLO, "en"),  # a ramble
    ],
)
def test_a_reply_that_is_no_translation_is_refused(reply: str, question: str, into: str) -> None:
    assert clean_translation(reply, question, into) is None  # type: ignore[arg-type]
