"""Banned words in streamed text: whole words in any case, never sent on before they are seen."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generation.banned import BannedWords, spellings


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("The engineer was Margaret Quill.", "Quill"),
        ("margaret quill", "Quill"),
        ("MARGARET QUILL!", "Quill"),
        ("Quills are pens.", None),  # a longer word is not the banned one
        ("Aquill", None),
        ("It is in New\nYork.", "new york"),  # a phrase, across white space
        ("他住在北京市。", "北京"),  # CJK has no spaces: anywhere
        ("Written in C++ today", "C++"),
    ],
)
def test_find_matches_whole_words_in_any_case(text: str, found: str | None) -> None:
    assert BannedWords(["Quill", "new york", "北京", "C++"]).find(text) == found


def test_a_word_at_the_very_end_waits_for_the_next_character() -> None:
    banned = BannedWords(["Quill"])
    assert banned.find("Margaret Quill", final=False) is None  # "Quills" may follow
    assert banned.find("Margaret Quill", final=True) == "Quill"
    assert banned.find("Margaret Quill.", final=False) == "Quill"


def test_no_banned_words_holds_nothing_back() -> None:
    banned = BannedWords([" ", ""])
    assert not banned
    assert banned.find("anything") is None
    assert banned.safe_end("abc") == 3


def test_spellings() -> None:
    assert spellings(" quill ") == ["quill", "Quill", "QUILL"]
    assert spellings("iPhone") == ["iPhone", "iphone", "IPhone", "IPHONE"]


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(alphabet="ab .,\n", max_size=30),
    after=st.text(alphabet="ab .,\n", max_size=30),
    cuts=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=40),
)
def test_text_sent_on_never_holds_a_banned_word(before: str, after: str, cuts: list[int]) -> None:
    """However the stream is cut into pieces, what is sent before the word is found never
    holds any of it."""
    banned = BannedWords(["Quill"])
    full = f"{before} Quill {after}"
    text, sent, i = "", 0, 0
    for n in cuts * 20:
        if i >= len(full):
            break
        text += full[i : i + n]
        i += n
        if banned.find(text, final=False):
            break
        sent = max(sent, banned.safe_end(text))
    assert "Q" not in full[:sent]
    assert banned.find(full) == "Quill"
