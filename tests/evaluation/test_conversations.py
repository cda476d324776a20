"""The conversations `kbqa eval --chat` builds from a question set: each kind well-formed, in
English and Chinese, and the same for the same seed."""

from __future__ import annotations

import pytest

from evaluation.conversations import KINDS, build_cases
from evaluation.dataset import EvalQuestion
from evaluation.subjects import answer_entity, ellipsis


def _q(id_: str, question: str, answers: list[str], document: str) -> EvalQuestion:
    return EvalQuestion(id=id_, question=question, answers=answers, document=document)


UNI = "University_of_Chicago.pdf"
QUESTIONS = [
    _q("core", "What is the name of the university's core curriculum?", ["Common Core"], UNI),
    _q("fest", "What is the name of the university's summer festival?", ["Summer Breeze"], UNI),
    _q("gas", "What does the electrolysis of water produce?", ["oxygen and hydrogen"], "O.pdf"),
    _q("cold", "At what temperature will oxygen condense?", ["90.20 K"], "O.pdf"),
    _q("share", "How much of the earth's atmosphere is oxygen?", ["20.8%"], "O.pdf"),
    _q("run", "印度野驴最高每小时可跑多少公里？", ["达70-80公里"], "zh.pdf"),
    _q("live", "印度野驴栖息在哪儿？", ["南亚"], "zh.pdf"),
    _q("what", "什么是乙酰胺？", ["乙酰胺是由乙酸衍生出的酰胺"], "zh2.pdf"),
    _q("formula", "乙酰胺的分子式是什么？", ["CHCONH"], "zh2.pdf"),
]


@pytest.mark.parametrize(
    ("first", "second", "subject", "asked"),
    [
        (  # the frame shared, the slot said alone, the subject's possessive as "its"
            "What is the name of the university's core curriculum?",
            "What is the name of the university's summer festival?",
            "university",
            "And its summer festival?",
        ),
        (  # the subject in the slot: a pronoun there
            "What is the name of the university's core curriculum?",
            "What is the name of the residential treatment program the university runs?",
            "university",
            "And the residential treatment program it runs?",
        ),
        (  # a preposition kept: "And in 1990?"
            "How many students lived in Elmstead in 1980?",
            "How many students lived in Elmstead in 1990?",
            "Elmstead",
            "And in 1990?",
        ),
        (
            "印度野驴最高每小时可跑多少公里？",
            "印度野驴栖息在哪儿？",
            "印度野驴",
            "那栖息在哪儿呢？",
        ),
        ("什么是乙酰胺？", "乙酰胺的分子式是什么？", "乙酰胺", "那么它的分子式呢？"),
    ],
)
def test_an_ellipsis_says_only_what_differs(
    first: str, second: str, subject: str, asked: str
) -> None:
    assert ellipsis(first, second, subject) == asked


@pytest.mark.parametrize(
    ("first", "second", "subject"),
    [
        # no frame shared: "And at what temperature will it condense?" is a follow-up
        (
            "How much of the atmosphere is oxygen?",
            "At what temperature will oxygen condense?",
            "oxygen",
        ),
        (
            "在1982年，兰比尔发生了什么事情？",
            "1996年2月至4月，吴双战担任什么职务？",
            "19",
        ),  # a number
        ("乙酰胺的分子式是什么？", "什么是乙酰胺？", "乙酰胺"),  # the subject does not open it
        ("兰比尔的球衣是什么？", "兰比尔的40号球衣有什么寓意？", "兰比尔"),  # no "…是什么" to drop
    ],
)
def test_no_ellipsis_without_a_frame_or_subject_to_drop(
    first: str, second: str, subject: str
) -> None:
    assert ellipsis(first, second, subject) is None


def test_the_previous_answer_is_found_in_the_next_question() -> None:
    gas = "What does the electrolysis of water produce?"
    assert answer_entity(gas, ["oxygen and hydrogen"], "At what temperature will oxygen condense?")
    assert (
        answer_entity(
            "What is consumed in both combustion and respiration?",
            ["nitroaereus"],
            "For what other action did Mayow show nitroaereus responsible?",
        )
        == "nitroaereus"
    )
    # never a number, nor a word the first question names, nor an adjective's noun
    assert answer_entity("How tall is it?", ["1850"], "What happened in 1850?") is None
    assert answer_entity("Where is oxygen?", ["oxygen"], "When will oxygen condense?") is None
    assert answer_entity(gas, ["oxygen"], "How much of it is diatomic oxygen?") is None
    assert answer_entity("Where is a teacher?", ["school"], "Who funds the Booth School?") is None
    assert answer_entity("义军分为哪两路？", ["刘六、刘七为一路"], "刘七是怎么死的？") == "刘七"
    assert (
        answer_entity("为什么难？", ["这导致了困难"], "导致了事故的原因有哪些？") is None
    )  # a verb


def test_each_kind_is_well_formed() -> None:
    cases = build_cases(QUESTIONS, None)
    by_kind = {kind: [c for c in cases if c.kind == kind] for kind in KINDS}
    assert all(by_kind.values()), {k: len(v) for k, v in by_kind.items()}
    for case in cases:
        assert case.second not in case.earlier
        assert case.second.answerable
    for case in by_kind["two-turns"]:  # subject first, an unrelated document between
        first, between = case.earlier
        assert first.document == case.second.document != between.document
        assert case.asked in {c.asked for c in by_kind["follow-up"]}
    asked = {c.second.id: c.asked for c in by_kind["ellipsis"]}
    assert asked["fest"] == "And its summer festival?"
    assert asked["live"] == "那栖息在哪儿呢？"
    assert asked["formula"] == "那么它的分子式呢？"
    previous = {c.second.id: (c.earlier[0].id, c.asked) for c in by_kind["previous-answer"]}
    assert previous == {
        "cold": ("gas", "At what temperature will it condense?"),
        "share": ("gas", "How much of the earth's atmosphere is it?"),
    }


def test_the_same_seed_makes_the_same_conversations() -> None:
    assert build_cases(QUESTIONS, 2, seed=7) == build_cases(QUESTIONS, 2, seed=7)
    sampled = build_cases(QUESTIONS, 1, seed=7)
    assert len(sampled) == len(KINDS)
    assert {c.kind for c in sampled} == set(KINDS)
