"""Scores against values worked out by hand and against the SQuAD and CMRC scripts' rules."""

from __future__ import annotations

import pytest

from evaluation.metrics import (
    exact_match,
    holds_answer,
    holds_answer_as_read,
    rouge_l,
    strip_citations,
    token_f1,
    tokens,
)


def test_tokens_follow_squad_normalisation() -> None:
    assert tokens("The Denver Broncos!") == ["denver", "broncos"]
    assert tokens("an apple, a pear") == ["apple", "pear"]


def test_cjk_is_scored_by_character() -> None:
    assert tokens("北京大学，1898年") == ["北", "京", "大", "学", "1898", "年"]
    assert token_f1("北京大学", ["北京"]) == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_exact_match_ignores_case_articles_and_punctuation() -> None:
    assert exact_match("the Denver Broncos.", ["Denver Broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0


def test_f1_takes_the_best_gold_answer() -> None:
    # "Denver Broncos won" vs "Denver Broncos": precision 2/3, recall 1 -> F1 0.8
    assert token_f1("Denver Broncos won", ["Carolina Panthers", "Denver Broncos"]) == (
        pytest.approx(0.8)
    )
    assert token_f1("", ["Denver Broncos"]) == 0.0
    assert token_f1("anything", []) == 0.0


def test_rouge_l_counts_order_unlike_f1() -> None:
    # Same bag of words, reversed: F1 is perfect, the longest common subsequence is one word.
    assert token_f1("broncos denver", ["denver broncos"]) == 1.0
    assert rouge_l("broncos denver", ["denver broncos"]) == pytest.approx(0.5)
    # "a b c d" vs "a c e": LCS "a c" = 2; P = 2/4, R = 2/3 -> F = 4/7
    assert rouge_l("w x y z", ["w y v"]) == pytest.approx(4 / 7)


def test_citations_are_stripped_before_scoring() -> None:
    assert strip_citations("It opened in 1887 [1] [2, 3].") == "It opened in 1887."
    assert exact_match(strip_citations("1887 [1]"), ["1887"]) == 1.0


def test_holds_answer_ignores_line_breaks_and_case() -> None:
    assert holds_answer("founded by John D.\nRockefeller in 1890", ["john d. rockefeller"])
    assert holds_answer("北京\n大学", ["北京大学"])
    assert not holds_answer("nothing here", ["Rockefeller"])
    assert not holds_answer("anything", [" "])


def test_an_answer_as_ocr_read_it_is_held_by_its_passage_and_nowhere_else() -> None:
    gold = "易颉输入法（简称易颉）是一种智慧型仓颉输入法"
    read = "易额输入法\n易颌输入法（简称易颉）是一种智慧型仓颌输入法，运作原理是"
    assert not holds_answer(read, [gold])
    assert holds_answer_as_read(read, [gold])  # 19 of 21 characters, in order, in place
    assert holds_answer_as_read("gold as printed", ["Gold as printed"])
    # A short answer must match whole; scattered characters over a long passage do not count.
    assert not holds_answer_as_read("天山的名珠", ["天山的明珠"])
    scattered = "易" + "很" * 40 + "颉输入" + "很" * 40 + "法（简称易颉）是一种智慧型仓颉输入法"
    assert not holds_answer_as_read(scattered, [gold])
    assert not holds_answer_as_read("anything", [" "])
