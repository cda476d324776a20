"""The repetition detector: natural text never trips it, a loop always does, and soon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generation.repetition import RepetitionDetector, seq_rep

ROOT = Path(__file__).resolve().parents[2]
WINDOW = 96


def _passages(name: str) -> list[str]:
    data = json.loads((ROOT / "benchmarks" / "data" / name).read_text())["data"]
    return [p["context"] for article in data for p in article["paragraphs"]]


ENGLISH = _passages("squad-v1.1-dev-half-a.json")
CHINESE = _passages("cmrc2018-trial.json")


def _prefixes(text: str, step: int = 40) -> list[str]:
    """The text as a stream would show it: growing, cut anywhere (mid-word included)."""
    return [text[:end] for end in range(step, len(text), step)] + [text]


def test_seq_rep_counts_repeated_ngrams() -> None:
    assert seq_rep(list("abcdefgh")) == 0
    assert seq_rep(["a"] * 10) == pytest.approx(1 - 1 / 7)
    assert seq_rep(["a", "b"]) == 0  # no 4-gram at all


@pytest.mark.parametrize(
    ("name", "passages"), [("English (SQuAD)", ENGLISH), ("Chinese (CMRC)", CHINESE)]
)
def test_natural_text_never_trips_it(name: str, passages: list[str]) -> None:
    detector = RepetitionDetector()
    tripped = [
        (text[:80], loop)
        for text in passages
        for prefix in _prefixes(text)
        if (loop := detector.check(prefix)) is not None
    ]
    assert len(passages) > 200
    assert tripped == [], name


# The README and the documentation pages: prose, tables of figures and code, none of it a loop.
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES)
def test_the_docs_with_their_tables_and_code_never_trip_it(page: str) -> None:
    detector = RepetitionDetector()
    text = (ROOT / page).read_text()
    assert all(detector.check(prefix) is None for prefix in _prefixes(text, 200))


WORDS = st.sampled_from(
    [
        "the",
        "dam",
        "reservoir",
        "engineer",
        "was",
        "built",
        "in",
        "1887",
        "by",
        "Margaret",
        "Quill",
        "[1]",
        "[2]",
        ",",
        ".",
        "and",
        "of",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    preamble=st.sampled_from(ENGLISH[:50]),
    unit=st.lists(WORDS, min_size=1, max_size=30),
)
def test_a_loop_trips_it_within_a_window(preamble: str, unit: list[str]) -> None:
    """Any unit of up to 30 tokens, said again and again after natural text, is caught
    within WINDOW tokens of the loop's start, and the cut keeps the text before the loop."""
    detector = RepetitionDetector()
    text = preamble[:400] + " "
    loop_start = len(text)
    for i in range(WINDOW + len(unit)):
        text += unit[i % len(unit)] + " "
        if (loop := detector.check(text)) is not None:
            break
    else:
        raise AssertionError(f"no loop found in {text[loop_start:]!r}")
    assert loop.start >= loop_start - 40  # never far into the natural text


def test_a_long_sentence_said_three_times_is_a_loop() -> None:
    words = ENGLISH[0].replace(".", "").split()[:60]
    sentence = " ".join(words) + ". "  # too long a loop for seq-rep-4 over 96 tokens
    detector = RepetitionDetector()
    assert detector.check("Intro. " + sentence * 2) is None
    loop = detector.check("Intro. " + sentence * 3)
    assert loop is not None
    assert ("Intro. " + sentence * 3)[: loop.start] == "Intro. " + sentence


def test_counting_citations_up_is_a_loop_cut_after_the_first() -> None:
    # What Qwen2.5-0.5B wrote when the name it wanted was banned.
    text = "The engineer in charge of the works was " + " ".join(f"[{i}]" for i in range(1, 60))
    loop = RepetitionDetector().check(text)
    assert loop is not None
    assert text[: loop.start] == "The engineer in charge of the works was [1] "


def test_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        RepetitionDetector(threshold=0)
    with pytest.raises(ValueError, match="window"):
        RepetitionDetector(window=3)


def test_a_loop_whose_copies_start_differently_is_cut_after_the_first() -> None:
    # The sentences are "The ... Quill." then "[1] The ... Quill." again and again.
    unit = "The engineer in charge of the works was Margaret Quill. [1] "
    detector, text = RepetitionDetector(), ""
    for word in (unit * 10).split():
        text += word + " "
        if (loop := detector.check(text)) is not None:
            break
    assert loop is not None
    assert text[: loop.start] == unit


def test_what_qwen_wrote_with_margaret_banned_is_caught_early() -> None:
    # Its whole answer, 384 tokens: a quote of the source, then citations counted up to 41.
    # Counted as one token each, the citations never filled the window.
    quote = (
        "[1] [2] The Elmstead reservoir was completed in 1887. Its dam is 41 metres high and it "
        "holds 12 million cubic metres of water. The engineer in charge of the works was "
    )
    text = quote + " ".join(f"[{i}]" for i in range(1, 42))
    detector = RepetitionDetector()
    for end in range(len(quote), len(text) + 1):
        if (loop := detector.check(text[:end])) is not None:
            break
    else:
        raise AssertionError("the loop was not caught")
    assert end < len(quote) + len(" ".join(f"[{i}]" for i in range(1, 25)))
    assert text[: loop.start] == quote
