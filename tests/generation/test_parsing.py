from __future__ import annotations

import pytest

from core.types import Chunk, Hit
from generation.parsing import citations_for, echoes, parse_answer, split_reasoning, support
from generation.prompts import REFUSAL, refusal


def _hit(text: str, page: int = 1) -> Hit:
    chunk = Chunk(
        document_id="d",
        ordinal=0,
        text=text,
        page_start=page,
        page_end=page,
        char_start=0,
        char_end=1,
    )
    return Hit(chunk=chunk, collection="c", filename="f.pdf", score=1.0)


HITS = [_hit("Zebras eat grass.", 3), _hit("Penguins eat krill and fish.", 7)]


def test_explicit_citations_in_order_of_mention() -> None:
    parsed = parse_answer("Krill and fish [2], unlike zebras [1][2].", HITS, chain_of_thought=False)
    assert parsed.cited == [2, 1]
    assert parsed.grounded
    assert not parsed.inferred


def test_out_of_range_citations_are_ignored() -> None:
    assert parse_answer("Fish [9] [2, 5]", HITS, chain_of_thought=False).cited == [2]


def test_uncited_answer_gets_its_supporting_source_as_an_inline_marker() -> None:
    parsed = parse_answer("krill and fish", HITS, chain_of_thought=False)
    assert parsed.cited == [2]
    assert parsed.answer == "krill and fish [2]"  # the marker the source list matches
    assert parsed.inferred
    chinese = parse_answer("磷虾和鱼。", [_hit("企鹅吃磷虾和鱼。")], False, "企鹅吃什么？")
    assert chinese.answer == "磷虾和鱼 [1]。"


@pytest.mark.parametrize(
    "text",
    [
        REFUSAL,
        "The sources do not mention it.",
        "Sorry, the documents do not contain the answer.",
        "文档中没有相关内容。",
    ],
)
def test_refusals_are_not_grounded(text: str) -> None:
    parsed = parse_answer(text, HITS, chain_of_thought=False)
    assert not parsed.grounded
    assert parsed.cited == []


@pytest.mark.parametrize("text", ["[1]", "[1].", " [1] [2] ", "[1，2]。"])
def test_source_numbers_alone_are_no_answer(text: str) -> None:
    parsed = parse_answer(text, HITS, chain_of_thought=False)
    assert (parsed.answer, parsed.grounded, parsed.cited) == (REFUSAL, False, [])
    assert parsed.unsupported == text.strip()


def test_chain_of_thought_is_split_at_the_last_answer_line() -> None:
    raw = "Reasoning: Source [2] is about penguins.\nIt says krill.\nAnswer: Krill and fish [2]."
    answer, reasoning = split_reasoning(raw)
    assert answer == "Krill and fish [2]."
    assert reasoning == "Source [2] is about penguins.\nIt says krill."
    parsed = parse_answer(raw, HITS, chain_of_thought=True)
    assert parsed.cited == [2]
    assert parsed.reasoning is not None


def test_chain_of_thought_without_marker_keeps_everything_as_answer() -> None:
    assert split_reasoning("Krill [2].") == ("Krill [2].", None)


def test_answer_from_memory_is_replaced_by_the_refusal() -> None:
    question = "What is the capital city of Australia?"
    parsed = parse_answer("The capital city of Australia is Canberra.", HITS, False, question)
    assert not parsed.grounded
    assert parsed.answer == REFUSAL
    assert parsed.unsupported == "The capital city of Australia is Canberra."
    assert parsed.support == 0.0


@pytest.mark.parametrize(
    ("answer", "question"),
    [
        ("Penguins eat krill and fish [2].", "What do penguins eat?"),
        ("Krill [2].", "What do penguins eat?"),
        ("Zebras eat grass.", "What do zebras eat?"),
    ],
)
def test_answers_drawn_from_the_sources_are_kept(answer: str, question: str) -> None:
    parsed = parse_answer(answer, HITS, False, question)
    assert parsed.grounded
    assert parsed.support >= 0.5


def test_chinese_support_counts_characters() -> None:
    hits = [_hit("北京是中华人民共和国的首都。")]
    assert support("首都是北京", "中国的首都是哪里？", [h.chunk.text for h in hits]) == 1.0
    assert support("上海", "中国的首都是哪里？", [h.chunk.text for h in hits]) == 0.0


@pytest.mark.parametrize(
    ("answer", "question", "source"),
    [
        # Both withheld with support 0.0 before words were compared by stem and number.
        ("5", "How many campuses does the university have?", "It has five campuses."),
        (
            "Branko Milanovic and Joseph Stiglitz are both economists.",
            "What is the profession of Branko Milanovic and Joseph Stiglitz?",
            "The economist Joseph Stiglitz wrote with Branko Milanovic.",
        ),
        ("twelve", "How many moons?", "It has 12 moons."),
        # A scan's OCR spellings of the name the model writes as it knows it: withheld before.
        ("Temüjin", "What was Genghis Khan's birth name?", "TemUjin was born with a blood clot."),
        ("Temüjin", "What was Genghis Khan's birth name?", "Temiujin was born with a blood clot."),
        ("Temujin", "What was Genghis Khan's birth name?", "Temüjin was born with a blood clot."),
    ],
)
def test_support_matches_word_forms_and_numbers(answer: str, question: str, source: str) -> None:
    assert support(answer, question, [source]) == 1.0
    assert parse_answer(answer, [_hit(source)], False, question).grounded


def test_a_number_from_memory_is_still_withheld() -> None:
    parsed = parse_answer("10", [_hit("It has five campuses.")], False, "How many campuses?")
    assert not parsed.grounded
    assert parsed.support == 0.0


@pytest.mark.parametrize(
    ("answer", "source"),
    [
        ("Kant", "Kent is a county."),  # short words must match
        ("Austria", "Australia is a country."),  # two letters apart
        ("Sydney", "Sydneysiders live in the city."),  # a longer word is another word
    ],
)
def test_only_a_long_word_one_letter_off_counts_as_held(answer: str, source: str) -> None:
    assert support(answer, "Where?", [source]) == 0.0


@pytest.mark.parametrize(
    ("question", "raw", "lang"),
    [
        ("斑马吃什么？", REFUSAL, "zh"),  # the model refused in English
        ("斑马吃什么？", "文档中没有相关内容。", "zh"),
        ("斑马吃什么？", "Zebras were first tamed in 1887.", "zh"),  # withheld as unsupported
        ("What do zebras eat?", "文档中没有相关内容。", "en"),
    ],
)
def test_a_refusal_is_in_the_question_s_language(question: str, raw: str, lang: str) -> None:
    parsed = parse_answer(raw, HITS, chain_of_thought=False, question=question)
    assert parsed.answer == refusal(lang)  # type: ignore[arg-type]
    assert not parsed.grounded


def test_an_answer_cites_the_passage_that_holds_it_not_the_one_the_model_named() -> None:
    parsed = parse_answer("Penguins eat krill [1].", HITS, False, "What do penguins eat?")
    assert parsed.grounded
    assert parsed.cited == [2]  # [1] is about zebras
    assert parsed.answer == "Penguins eat krill [2]."
    assert parsed.inferred


@pytest.mark.parametrize(
    ("answer", "question", "echo"),
    [
        ("The Mongol army besieged the city [1].", "Which city did the Mongol army besiege?", True),
        ("易颉输入法是输入法。", "易颉输入法是什么？", True),
        ("Kaffa [1].", "Which city did the Mongol army besiege?", False),
        ("The Vistula River flows through Warsaw [1].", "What river flows through Warsaw?", False),
        ("Yes [1].", "Is Warsaw on the Vistula?", False),  # a bare yes answers
        (REFUSAL, "Which city did the Mongol army besiege?", False),  # a refusal is its own case
    ],
)
def test_an_answer_that_adds_no_word_to_the_question_echoes_it(
    answer: str, question: str, echo: bool
) -> None:
    assert echoes(answer, question) is echo


def test_a_citation_names_the_heading_its_passage_is_under() -> None:
    hit = _hit("It lives on muddy sand floors.", 2)
    hit.chunk.heading = "Coelorinchus smithi"
    (citation,) = citations_for([1], [hit])
    assert (citation.page, citation.heading) == (2, "Coelorinchus smithi")


def test_an_answer_may_name_what_the_passages_heading_names() -> None:
    hit = _hit("It lives on muddy sand floors.", 2)
    hit.chunk.heading = "Coelorinchus smithi"
    parsed = parse_answer("Coelorinchus smithi [1]", [hit], chain_of_thought=False)
    assert parsed.grounded
    assert parsed.cited == [1]
