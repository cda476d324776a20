"""What a follow-up refers to (generation/referents.py): one rule set, English and Chinese.

An entity named earlier, never a number, a date or a quantity; of two that fit, the more
recent, with a note saying which was assumed."""

from __future__ import annotations

import pytest

from core.i18n import message
from core.types import Turn
from generation.prompts import REFUSAL, refusal
from generation.referents import (
    Reading,
    Referent,
    assumption_note,
    choose,
    readings,
    referents,
    refers_back,
    with_frame,
)


def _history(*texts: str) -> list[Turn]:
    """Turns alternating user, assistant, starting with the user."""
    return [Turn(role="assistant" if i % 2 else "user", content=t) for i, t in enumerate(texts)]


def _read(question: str, *texts: str) -> list[str]:
    return [r.question for r in readings(question, _history(*texts))]


@pytest.mark.parametrize(
    "question",
    [
        "And who was its engineer?",
        "When did it end?",
        "Who conducted this survey?",
        "What happened after that?",
        "Who lived there?",
        "What about the second dam?",
        "Why?",
        "它栖息在哪儿？",
        "该书讲述了什么内容？",
        "其地理位置的重要性体现在哪些方面？",
        "那首届比赛在哪里举行？",
        "为什么？",
    ],
)
def test_a_question_that_points_back_is_a_follow_up(question: str) -> None:
    assert refers_back(question)


@pytest.mark.parametrize(
    "question",
    [
        "Where does the Rhine begin?",
        "What is the capital of Kenya?",
        "In what year was Nikola Tesla born?",
        "Is there a museum in Celle?",  # "there" that points at nothing
        "What is the name of the company that built the dam?",
        "MIT OpenCourseWare指什么？",
        "其他国家的首都是哪里？",  # 其他 is "other", not "its"
        "你应该怎么申请签证？",  # 应该 is "should", not "this"
        "印度野驴栖息在哪儿？",
    ],
)
def test_a_question_that_stands_alone_is_no_follow_up(question: str) -> None:
    assert not refers_back(question)


@pytest.mark.parametrize(
    ("history", "question"),
    [
        (("How many wildebeest did Tesla count in 1998?", "802 [1]."), "Who did he work with?"),
        (("How many Vice Presidents are on the board?", "Fourteen [1]."), "Who appoints them?"),
        (("What share of the air is oxygen?", "20.8% [1]."), "When was it measured?"),
        (("印度野驴最高每小时可跑多少公里？", "达70-80公里 [1]。"), "它栖息在哪儿？"),
        (("兰比尔在1982年去了哪里？", "1982年去了底特律 [1]。"), "他在那里待了多久？"),
    ],
)
def test_a_reference_never_stands_for_a_number_a_date_or_a_quantity(
    history: tuple[str, str], question: str
) -> None:
    """Asked "Who did he work with?" after a question whose answer was a number, the 0.5B
    model rewrote it as "What other inventor did 802 work with?"."""
    found = readings(question, _history(*history))
    assert found
    for reading in found:
        entity = reading.referent.text.lower()
        assert not any(c.isdigit() for c in entity), reading
        assert entity not in {"fourteen", "公里", "年去"}, reading


def test_english_readings_take_each_phrase_named_earlier_the_latest_turn_first() -> None:
    found = _read(
        "At what temperature will it condense?",
        "How much of the earth's atmosphere is diatomic oxygen?",
        "20.8% [1].",
    )
    assert found == [
        f"At what temperature will {p} condense?"
        for p in (
            "earth",
            "earth's atmosphere",
            "atmosphere",
            "diatomic",
            "diatomic oxygen",
            "oxygen",
        )
    ]
    history = ("Who designed the Eiffel Tower?", "Gustave Eiffel [1].")
    assert _read("Where was he born?", *history)[:2] == [
        "Where was Gustave born?",  # the answer is the latest turn
        "Where was Gustave Eiffel born?",
    ]
    assert "When did Gustave Eiffel's reign end?" in _read("When did her reign end?", *history)
    assert "Who married Gustave Eiffel?" in _read("Who married her?", *history)
    assert "Who lived in Elmstead?" in _read("Who lived there?", "Where is Elmstead?", "Kent.")
    # "there" after a preposition, anywhere: the place, the preposition kept
    kaffa = ("Which city did the Mongols besiege?", "Kaffa [1].")
    assert refers_back("How did the disease get from there to Italy?")
    assert _read("How did the disease get from there to Italy?", *kaffa)[0] == (
        "How did the disease get from Kaffa to Italy?"
    )
    assert "How far is Rome from Kaffa?" in _read("How far is Rome from there?", *kaffa)
    assert "What happened after flood?" in _read(  # a phrase as named, without "the"
        "What happened after that?", "When was the flood?", "In May [1]."
    )
    # a demonstrative's noun, qualified by the entity; "that" only where it cannot open a clause
    assert "Who conducted the Eiffel Tower survey?" in _read("Who conducted this survey?", *history)
    assert "Who was the MVP of the Super Bowl 50 game?" in _read(  # a name with its number
        "Who was the MVP of that game?", "Who won Super Bowl 50?", "The Broncos [1]."
    )
    assert not refers_back("Who owns the company that built the tower?")
    # "he" is a name asked about or answered, not a word of an answer that explains
    siege = (
        "What was Genghis Khan's birth name?",
        "Temüjin [1].",
        "How did the plague spread during that siege?",
        "The Genoese traders fled, taking the plague by ship into Sicily, whence it spread [1].",
    )
    assert {r.referent.text for r in readings("When did he die?", _history(*siege))} == {
        "Genghis",
        "Genghis Khan",
        "Khan",
        "Temüjin",
    }
    assert readings("When did it end?", []) == []
    refused = _history("Who designed the Eiffel Tower?", REFUSAL)
    assert not any("documents" in r.question for r in readings("Where was he born?", refused))


def test_chinese_readings_put_the_entity_for_the_pronoun_or_the_dropped_subject() -> None:
    before = ("印度野驴最高每小时可跑多少公里？", "达70-80公里 [1]。")
    assert "印度野驴栖息在哪儿？" in _read("它栖息在哪儿？", *before)
    assert "印度野驴栖息在哪儿？" in _read("那栖息在哪儿呢？", *before)  # the subject dropped
    what = ("什么是乙酰胺？", "乙酰胺是由乙酸衍生出的酰胺 [1]。")
    assert "乙酰胺的分子式是什么？" in _read("那么它的分子式呢？", *what)  # "…呢" asks what it is
    book = ("自在奥义书的成书时间是什么时候？", "可能晚至孔雀王朝时期 [1]。")
    assert "自在奥义书讲述了什么内容？" in _read("该书讲述了什么内容？", *book)
    assert "木咀C为什么被潇洒哥取笑？" in _read("她为什么被潇洒哥取笑？", "木咀C是怎么认识S.K.的？")
    # "那亚军呢？": another thing asked of what the last question asked about
    chess = ("中国（南京）国际象棋超级大赛的冠军是谁？", "托帕洛夫 [1]。")
    framed = readings("那亚军呢？", _history(*chess))[0]
    assert framed.question == "中国（南京）国际象棋超级大赛的亚军是谁？"
    assert framed.referent == Referent("中国（南京）国际象棋超级大赛", 0, topic=True)
    # no "A的B" to take the frame of: the dropped subject is an entity named before
    assert "托帕洛夫亚军是什么？" in _read("那亚军呢？", "冠军是谁？", "托帕洛夫 [1]。")


def test_a_transliterated_name_is_one_entity_across_its_dot() -> None:
    """比尔·兰比尔, not 比尔: the trial's "他的防守怎么样？" was read for his first name alone."""
    before = ("比尔·兰比尔是哪个队的球员？", "底特律活塞队 [1]。")
    named = [r.text for r in referents(_history(*before))]
    assert "比尔·兰比尔" in named
    assert "比尔·" not in named  # no candidate ends at the dot
    assert "比尔·兰比尔的防守怎么样？" in _read("他的防守怎么样？", *before)
    # a dot that stands alone still parts what it stands between
    assert "兰比尔" in [r.text for r in referents(_history("比尔 · 兰比尔是谁？"))]


def _reading(text: str, turn: int) -> Reading:
    return Reading(f"Q about {text}", Referent(text, turn))


def test_the_best_fitting_entity_is_taken_when_no_other_fits() -> None:
    found = [_reading("Tesla", 2), _reading("oxygen", 0)]
    chosen = choose(found, [0.30, 0.70], margin=0.03)
    assert chosen.reading.referent.text == "oxygen"  # Tesla does not condense
    assert not chosen.ambiguous


def test_of_two_entities_that_fit_the_more_recent_is_taken_and_said() -> None:
    found = [_reading("Edison", 0), _reading("Tesla", 2), _reading("Marconi", 1)]
    chosen = choose(found, [0.71, 0.69, 0.50], margin=0.03)
    assert chosen.reading.referent.text == "Tesla"
    assert chosen.ambiguous
    assert assumption_note(chosen.reading.referent, "en") == "Assuming “Tesla” from earlier."
    zh = choose([_reading("爱迪生", 0), _reading("特斯拉", 2)], [0.5, 0.48], margin=0.05)
    assert assumption_note(zh.reading.referent, "zh") == "按前文理解为“特斯拉”。"
    assert message("assumed_referent", "zh", referent="特斯拉") == "按前文理解为“特斯拉”。"


def test_one_entity_named_twice_or_within_another_is_not_ambiguous() -> None:
    found = [_reading("diatomic oxygen", 1), _reading("oxygen", 0)]
    chosen = choose(found, [0.70, 0.71], margin=0.03)
    assert chosen.reading.referent.text == "oxygen"
    assert not chosen.ambiguous
    with pytest.raises(ValueError, match="at least one"):
        choose([], [], margin=0.03)


def test_referents_are_the_latest_turns_each_once() -> None:
    history = _history(
        "When was the Elmstead dam built?", "In 1887 [1].", "Who was Tesla?", refusal("en")
    )
    found = referents(history)
    assert [r.text for r in found][:1] == ["Tesla"]  # the refusal names nothing
    assert {r.text: r.turn for r in found}["Elmstead dam"] == 0
    assert all(r.text != "1887" for r in found)


def test_an_english_ellipsis_takes_the_frame_of_the_last_question() -> None:
    core = ("What is the name of the university's core curriculum?", "Common Core [1].")
    framed = with_frame("And its summer festival?", _history(*core))
    assert "What is the name of its summer festival?" in framed
    assert "What is the name of university's summer festival?" in _read(
        "And its summer festival?", *core
    )
    census = ("How many students lived in Elmstead in 1980?", "300 [1].")
    # each "in" a place for the slot, the last first; the documents choose
    assert _read("And in 1990?", *census)[0] == "How many students lived in Elmstead in 1990?"
    assert with_frame("And who was its engineer?", _history(*census)) == []  # it says it all
    assert with_frame("那么它的分子式呢？", _history(*census)) == []
    # "the engineer" is no slot of "When was the Elmstead reservoir completed?"
    dam = _history("When was the Elmstead reservoir completed?", "In 1887 [1].")
    assert with_frame("And the engineer?", dam) == []


def test_an_ellipsis_that_asks_something_else_asks_it_of_the_last_question() -> None:
    born = _history("Where was Genghis Khan likely born?", "In Delüün Boldog [1].")
    assert with_frame("And in what year?", born) == ["In what year was Genghis Khan likely born?"]
    assert with_frame("And when?", born) == ["When was Genghis Khan likely born?"]
    # the frame is read as the question, and the last question is what it refers to
    [reading] = readings("And in what year?", born)
    assert reading.question == "In what year was Genghis Khan likely born?"
    assert reading.referent.text == "Where was Genghis Khan likely born?"
    # no auxiliary after the question word: "Who founded it?" cannot be turned this way
    assert with_frame("And when?", _history("Who founded the Elmstead dam?", "Tesla [1].")) == []
    # a follow-up with its own verb says it all
    dam = _history("When was the Elmstead reservoir completed?", "In 1887 [1].")
    assert with_frame("And who was its engineer?", dam) == []


def test_the_verb_that_ends_a_question_names_nothing() -> None:
    entities = {r.text for r in referents(_history("What does the electrolysis of water produce?"))}
    assert "electrolysis of water" in entities
    assert not any(e.endswith("produce") for e in entities)


def test_a_chinese_topic_outweighs_a_more_recent_entity_that_fits_no_better() -> None:
    topic = Reading("美特斯邦威的主要经营模式是什么？", Referent("美特斯邦威", 0, topic=True))
    answer = Reading("年轻人群的主要经营模式是什么？", Referent("年轻人群", 1))
    chosen = choose([answer, topic], [0.5, 0.5], margin=0.05)
    assert chosen.reading is topic
    assert chosen.ambiguous  # 年轻人群 fit too: the note says which was taken
    found = referents(_history("在古代的美索不达米亚时代，数字是如何表达的？"))
    assert "古代" in {r.text for r in found}
    assert not any(r.text.startswith("在") for r in found)
    assert not any(r.text == "方面" for r in referents(_history("其重要性体现在哪些方面？")))


def test_the_era_of_a_year_is_part_of_a_date_not_an_entity() -> None:
    """民国29年 is 1940: "它" never stands for 民国, which the question opens with."""
    before = ("民国29年，三门县是怎么成立的？", "由南田县撤消后合置 [1]。")
    named = [r.text for r in referents(_history(*before))]
    assert "民国" not in named
    assert "三门县" in named
    assert "三门县的范围包括哪些地方？" in _read("它的范围包括哪些地方？", *before)
