"""What a follow-up refers to, read as a person would: one rule set for English and Chinese.

A question **refers back** (:func:`refers_back`) when it holds a reference word (it, they, he,
she, this, that, there, the same; 它, 他, 她, 其, 该, 此, 这, 那), a demonstrative before a noun
("of that game"), opens by continuing the last question ("and ...", "what about ...", 那么 ...,
还有 ...), or is too short to stand alone.

What it refers to is an **entity named earlier** in the conversation (:func:`referents`): a name
or noun phrase of an earlier question, or of an earlier answer short enough to name things
rather than explain them. Never a number, a date or a quantity ("802", "1851", "20.8%",
"fourteen", "1982年"): a pronoun does not stand for one.

Each entity gives a **reading** of the follow-up (:func:`readings`): its reference replaced by
the entity ("At what temperature will oxygen condense?"), a demonstrative's noun qualified by
it ("the MVP of that game" -> "the MVP of the Super Bowl 50 game"); "he" and "she" are read only
as a name (capitalised) that a question or a short answer gave, not as a word of an answer
that explains; in Chinese, a follow-up that drops
its subject gets it back in front ("那栖息在哪儿呢？" -> "印度野驴栖息在哪儿？"), and a
"...呢？" that asks for a thing asks what it is ("那么它的分子式呢？" -> "乙酰胺的分子式是什么？").

The caller scores each reading by how well the documents bear it out, and :func:`choose` takes
one: among the readings that **fit** (within a margin of the best score), the one whose entity
was named **most recently**. When entities of two turns fit, the answer says which one was
assumed (:func:`assumption_note`: "Assuming “Tesla” from earlier.").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.i18n import Lang, message
from core.text import (
    CITATION_RE,
    COUNTING,
    NAME_DOTS,
    NUMBER_WORDS,
    PRONOUNS_EN,
    PRONOUNS_ZH,
    STOPWORDS,
    ZH_BOUNDARY,
)
from core.types import Turn
from generation.parsing import is_refusal

# -- does the question refer back? ------------------------------------------------------------
# English: personal pronouns, "this", "these", "those" (in a question these name something said
# before), "that", "there" or "the same" as its end ("who did that?", "who lived there?"), and
# an opening that continues the last question ("and ...", "what about ..."). Chinese:
# 它/他/她(们), 其 (not in 其他, 尤其 ...), 该/此/这/那 (not in 应该, 因此, 如此, nor 那么 alone
# mid-question), and 那/还有 ... openings.
PRONOUN_EN = re.compile(PRONOUNS_EN, re.I)
PRONOUN_ZH = re.compile(PRONOUNS_ZH)
_ENDING_EN = r"\b(?:that|there|the same)\s*[?.!]*\s*$"
# "there" after a preposition points at a place anywhere ("how did it get from there to
# Italy?"); alone mid-question it may say that something exists ("is there a museum?").
_PLACE_EN = r"\b(?:from|to|in|at|near|around|into|through|of)\s+there\b"
_OPENING_EN = r"^\s*(?:and|but|also|so|then|what about|how about)\b"
_REFERS_EN = re.compile(f"{PRONOUNS_EN}|{_ENDING_EN}|{_PLACE_EN}|{_OPENING_EN}", re.I)
_DEMONSTRATIVE_ZH = r"(?<!应)该|(?<![因如])此|这(?:里|儿)?|那(?:里|儿|个|些|时|年|次|位|件|座|本)"
_OPENING_ZH = r"^\s*(?:那么|那|还有|另外)"
_REFERS_ZH = re.compile(f"{PRONOUNS_ZH}|{_DEMONSTRATIVE_ZH}|{_OPENING_ZH}")
# A few words and nothing to search for: "Why?", "And the engineer?", "什么时候？".
_ELLIPSIS_WORDS = 3
_ELLIPSIS_CJK_CHARS = 5
_CJK_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"\w+")


def refers_back(question: str) -> bool:
    """Whether ``question`` points back at the conversation, so that it needs it to be
    understood: a reference word, an opening that continues, or too few words to stand alone.

    Errs towards "stands alone" for a question with a definite noun ("when did the war
    end?"): it is searched as asked, which finds the war, if the collection holds one.
    """
    text = question.strip()
    if _REFERS_EN.search(text) or _REFERS_ZH.search(text) or _demonstrative(text):
        return True
    cjk = len(_CJK_IDEOGRAPH.findall(text))
    words = len(_WORD.findall(_CJK_IDEOGRAPH.sub(" ", text)))
    if cjk:  # a Latin word says about as much as two characters
        return cjk + 2 * words <= _ELLIPSIS_CJK_CHARS
    return words <= _ELLIPSIS_WORDS


# -- entities named earlier -------------------------------------------------------------------
@dataclass(frozen=True)
class Referent:
    """An entity named earlier: its text, and the turn that named it (its index in the
    history: the larger, the more recent)."""

    text: str
    turn: int
    topic: bool = False  # what a Chinese question opens with: 印度野驴 of 印度野驴栖息在哪儿？
    in_passing: bool = False  # named by an answer that explains, not by one that names


# A number, a year, an amount: never what "it", "he" or 它 stands for.
_NUMERIC = re.compile(r"[\d.,%]+(?:s|st|nd|rd|th)?")
_DIGIT = re.compile(r"\d")
# English phrases: up to four words, the first and the last of them content words, the others
# content words or "of", "the", "and" ("University of Chicago", "earth's atmosphere").
_PHRASE_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_GLUE = frozenset({"of", "the", "and"})
_MAX_PHRASE_WORDS = 4
# A question asked with an auxiliary ends with its verb: "What type do Sudbury schools prefer?"
_AUXILIARY_QUESTION = re.compile(
    r"^\s*\w+(?:\s+\w+)?\s+(?:do|does|did|can|could|will|would|should|may|might|must)\b", re.I
)
_NOT_NAMES = STOPWORDS | {"much", "many", "name", "named", "called", "kind", "type", "year"}
# Past forms that do not end in -ed: "old harbour built" names nothing.
_IRREGULAR_PAST = frozenset(
    """built made known given taken found held born won written begun done seen sold told led
    kept left lost paid brought bought thought caught taught fought sent spent meant grown drawn
    shown thrown chosen spoken broken driven risen fallen eaten forgotten hidden became began
    came gave took wrote grew drew knew rose fell ran""".split()  # noqa: SIM905
)
_ZH_MIN, _ZH_MAX = 2, 8
# What follows a number, 多少 or 几 is a unit or a date; what follows 什么 or 哪些 is what the
# question asks for (什么职务, 哪些方面), not a thing it names.
_TOPIC = 2
_PREPOSITION_ZH = "在从"  # 在古代…: a place or a time, not a thing it names
# The era a Chinese year is counted in (民国29年, 公元前221年): part of a date, not a thing.
_ERAS_ZH = frozenset({"公元", "公元前", "西元", "民国", "农历", "阴历", "阳历"})
# An answer names things when it is short; a longer one explains, and its phrases are noise.
_MAX_ANSWER_WORDS = 25  # "Oxygen and hydrogen are produced by the electrolysis of water."
_NAMING_WORDS = 6  # an answer of up to this many words names its entities: "Paul Baran [1]."
_MAX_ANSWER_CJK = 8  # a Chinese answer that names: 南亚, 天山的明珠
_TURNS = 6  # the last three exchanges: a person does not reach further back for "it"


def referents(history: Sequence[Turn]) -> list[Referent]:
    """The entities the last turns of ``history`` name, the most recent turn's first, each
    once (where it was named last); never a number, a date or a quantity."""
    found: dict[str, Referent] = {}
    for index in range(len(history) - 1, max(-1, len(history) - 1 - _TURNS), -1):
        turn = history[index]
        in_passing = turn.role == "assistant" and _explains(turn.content)
        for text, topic in _entities(turn):
            found.setdefault(text.lower(), Referent(text, index, topic, in_passing))
    return list(found.values())


def _entities(turn: Turn) -> list[tuple[str, bool]]:
    """The entities one turn names, each with whether it is the turn's topic."""
    text = CITATION_RE.sub(" ", turn.content).strip()
    if turn.role == "assistant" and (is_refusal(text) or _too_long(text)):
        return []
    if _CJK_IDEOGRAPH.search(text):
        runs = [run for run in _chinese_runs(text) if len(run) >= _ZH_MIN]
        asked = turn.role == "user"
        return [(p, asked and i == 0) for i, run in enumerate(runs) for p in _prefixes(run)]
    return [(p, False) for p in _phrases(text)]


def _explains(answer: str) -> bool:
    """An answer that says more than a name ("The Genoese traders fled, taking the plague by
    ship into Sicily"): "he" or "she" does not point at the places it passes through."""
    text = CITATION_RE.sub(" ", answer)
    if _CJK_IDEOGRAPH.search(text):
        return len(_CJK_IDEOGRAPH.findall(text)) > _MAX_ANSWER_CJK
    return len(_PHRASE_WORD.findall(text)) > _NAMING_WORDS


def _too_long(answer: str) -> bool:
    if _CJK_IDEOGRAPH.search(answer):
        return len(_CJK_IDEOGRAPH.findall(answer)) > _MAX_ANSWER_CJK
    return len(_PHRASE_WORD.findall(answer)) > _MAX_ANSWER_WORDS


def _phrases(text: str) -> list[str]:
    words = [w.group() for w in _PHRASE_WORD.finditer(text)]
    if _AUXILIARY_QUESTION.match(text) and words and words[-1].islower():
        words = words[:-1]  # "What does the electrolysis of water produce?": a verb
    out = []
    for i in range(len(words)):
        for j in range(i, min(i + _MAX_PHRASE_WORDS, len(words))):
            span = words[i : j + 1]
            span[-1] = re.sub(r"['’]s$", "", span[-1])
            if (
                _content(span[0])
                and (_content(span[-1]) or _numbered(span))
                and all(_content(w) or w.lower() in _GLUE for w in span[:-1])
            ):
                out.append(" ".join(span))
    return out


def _numbered(span: list[str]) -> bool:
    """A name that ends with its number: "Super Bowl 50", "Apollo 11" (not "in 1998")."""
    return len(span) > 1 and span[-1].isdigit() and span[-2][:1].isupper()


def _content(word: str) -> bool:
    """A word that can be part of a name: not a function word, nor a number, nor, lower-cased,
    a verb's past form ("designed", "planted")."""
    return (
        len(word) >= 3
        and word.lower() not in _NOT_NAMES
        and not (word.islower() and (word.endswith("ed") or word in _IRREGULAR_PAST))
        and names_something(word)
    )


def names_something(unit: str) -> bool:
    """A word that can name what a pronoun stands for: not a number, date or amount ("802",
    "1851", "20.8", "fourteen")."""
    return not _NUMERIC.fullmatch(unit) and unit.lower() not in NUMBER_WORDS


def _chinese_runs(text: str) -> list[str]:
    """The runs of a Chinese text that may name something, in order, without an opening 在
    or 从: not numbers, nor what follows a number, 多少 or 几 (a unit, a date) or 什么 and
    哪些 (what is asked for), nor the era of a year (民国 of 民国29年)."""
    runs = ZH_BOUNDARY.split(text)  # numbers kept: what follows one is a unit or a date
    return [
        run.lstrip(_PREPOSITION_ZH)
        for before, run in zip([None, *runs], runs, strict=False)
        if run
        and not run.isdigit()
        and run not in COUNTING
        and run not in _ERAS_ZH
        and not (before and (before in COUNTING or before.isdigit()))
    ]


def _prefixes(run: str) -> list[str]:
    ends = range(_ZH_MIN, min(len(run), _ZH_MAX) + 1)
    return [run[:end] for end in ends if run[end - 1] not in NAME_DOTS]  # not "比尔·"


# -- readings ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """The follow-up as it reads with its reference taken for ``referent``."""

    question: str
    referent: Referent


_READABLE_EN = re.compile(
    r"\b(?:it|its|they|them|their|he|him|his|she|her)\b|" + _ENDING_EN + "|" + _PLACE_EN, re.I
)
_POSSESSIVE = frozenset({"its", "their", "his", "hers"})
_NOT_A_NOUN = frozenset(
    """a an the of in on at to for from by with about into over under after before than and
    or""".split()  # noqa: SIM905
)
_QUESTION_WORDS = frozenset(
    ["what", "which", "who", "whom", "whose", "when", "where", "why", "how"]
)
_READABLE_ZH = re.compile(
    PRONOUNS_ZH + r"|(?<!应)该|(?<![因如])此|(?:这|那)(?:里|儿|个|位|本|座|部|件)?(?!么)"
)
_QUESTION_WORD_ZH = re.compile(r"什么|谁|哪|多少|怎|如何|何|几|吗")
_MAX_READINGS = 64


def readings(question: str, history: Sequence[Turn]) -> list[Reading]:
    """``question`` read with its reference as each entity named earlier, the most recent
    first; [] when it has no reference to read this way ("Why?") or nothing came before.

    An English ellipsis first takes the frame of the last question (:func:`with_frame`):
    "And its summer festival?" after "What is the name of the university's core
    curriculum?" reads "What is the name of its summer festival?", then "its" is read; of
    several frames, the documents choose too."""
    frames = with_frame(question, history)
    asked = _last_question(history)
    if frames and asked is not None and not _READABLE_EN.search(frames[0]):  # "And in 1990?"
        return [Reading(f, Referent(history[asked].content, asked)) for f in frames]
    out = [] if (framed := _chinese_frame(question, history)) is None else [framed]
    for referent in referents(history):
        for text in (_read(q, referent) for q in frames or [question]):
            if text is not None and text != question:
                out.append(Reading(text, referent))
    return list({r.question: r for r in reversed(out)}.values())[::-1][:_MAX_READINGS]


# "And its summer festival?", "What about in 1990?": the slot of the last question said again.
_ELLIPSIS_EN = re.compile(r"^\s*(?:and|but|what about|how about)\s+(.+?)\s*[?.!]*\s*$", re.I)
_DETERMINERS = frozenset({"the", "a", "an", "its", "their", "his", "her"})
_FRAME_PREPOSITIONS = _NOT_A_NOUN - {"a", "an", "the", "and", "or", "than"}
_MAX_SLOT_WORDS = 6


def with_frame(question: str, history: Sequence[Turn]) -> list[str]:
    """An English ellipsis said in the frame of the last question: its slot from where the
    ellipsis's first word begins the same kind of phrase there (a determiner or the same
    preposition, before no verb's past form): "And in 1990?" after "How many lived there in
    1980?" -> "How many lived there in 1990?"; each such place once, the last first. []
    for anything else ("And who was its engineer?" says it all)."""
    found = _ELLIPSIS_EN.match(question)
    last = _last_question(history)
    if found is None or last is None or _CJK_IDEOGRAPH.search(question):
        return []
    slot = found.group(1)
    words = slot.split()
    first = words[0].lower()
    if len(words) > _MAX_SLOT_WORDS:
        return []
    plain = [w.lower().strip("?.!,") for w in words]
    if any(w in _QUESTION_WORDS for w in plain):  # "And in what year?", not "And who was ...?"
        asking = None if _AUXILIARIES & set(plain) else _ask_instead(slot, history[last].content)
        return [asking] if asking else []
    kinds = _DETERMINERS if first in _DETERMINERS else {first} & _FRAME_PREPOSITIONS
    frame = history[last].content.strip().rstrip("?.! ")
    starts = [m.start() for m in re.finditer(r"\b\w+\b", frame) if m.group().lower() in kinds]
    return [f"{frame[:at]}{slot}?" for at in reversed(starts) if not _past(frame[at:])]


_AUXILIARIES = frozenset(
    "is was are were did does do has have had can could will would".split()  # noqa: SIM905
)


# "那亚军呢？", "还有亚军？": another thing asked of what the last question asked about.
_ELLIPSIS_ZH = re.compile(
    r"^\s*(?P<open>那么|那|还有|另外)?\s*(?P<slot>[^\W\d_]{1,6}?)\s*(?P<ne>呢)?\s*[？?]?\s*$"
)


def _chinese_frame(question: str, history: Sequence[Turn]) -> Reading | None:
    """A Chinese ellipsis said in the frame of the last question, which asked "A的B…":
    "那亚军呢？" after "中国（南京）国际象棋超级大赛的冠军是谁？" -> "…大赛的亚军是谁？", its
    referent A, the last question's topic. None for anything else."""
    found = _ELLIPSIS_ZH.match(question)
    asked = _last_question(history)
    if found is None or asked is None or not (found.group("open") or found.group("ne")):
        return None
    slot = found.group("slot")
    if (
        not _CJK_IDEOGRAPH.search(slot)
        or _READABLE_ZH.search(slot)
        or _QUESTION_WORD_ZH.search(slot)
    ):
        return None
    frame = history[asked].content.strip()
    of = frame.rfind("的")
    thing = ZH_BOUNDARY.split(frame[of + 1 :])[0] if of > 0 else ""
    if not thing or thing == slot:
        return None
    topic = frame[:of].strip()
    said = f"{frame[: of + 1]}{slot}{frame[of + 1 + len(thing) :]}"
    return Reading(said, Referent(topic, asked, topic=True))


def _last_question(history: Sequence[Turn]) -> int | None:
    """The index of the last question (user turn) of ``history``; None when it has none."""
    return next((i for i in range(len(history) - 1, -1, -1) if history[i].role == "user"), None)


def _ask_instead(slot: str, frame: str) -> str | None:
    """The last question asking ``slot`` in place of what it asked, where that question opens
    with its question words and an auxiliary: "And in what year?" after "Where was Genghis
    Khan likely born?" -> "In what year was Genghis Khan likely born?"; None otherwise ("And
    when?" after "Who founded it?" would need the verb turned round)."""
    words = frame.strip().rstrip("?.! ").split()
    aux = next((i for i, w in enumerate(words[:4]) if w.lower() in _AUXILIARIES), 0)
    if not aux or not any(w.lower() in _QUESTION_WORDS for w in words[:aux]):
        return None
    return f"{slot[0].upper()}{slot[1:]} {' '.join(words[aux:])}?"


def _past(text: str) -> bool:
    """Whether ``text`` holds a verb's past form: a slot it ends is no noun phrase ("the
    Elmstead reservoir completed" of "When was the Elmstead reservoir completed?")."""
    return any(w.islower() and (w.endswith("ed") or w in _IRREGULAR_PAST) for w in text.split())


def _read(question: str, referent: Referent) -> str | None:
    entity = referent.text
    if _CJK_IDEOGRAPH.search(question):
        return _read_chinese(question, entity)
    found = _READABLE_EN.search(question)
    if found is None:
        if (pointed := _demonstrative(question)) is None:
            return None
        start, end, noun = pointed  # "the MVP of that game" -> "the MVP of the Super Bowl 50 game"
        return f"{question[:start]}the {entity} {noun}{question[end:]}"
    word, after = found.group().lower().rstrip(" ?.!"), question[found.end() :]
    if word.endswith(" there"):  # "from there to Italy": the place, its preposition kept
        return f"{question[: found.end() - len('there')]}{entity}{after}"
    if word.startswith(("there", "that", "the same")):  # "who lived there?" -> "in Elmstead"
        return question[: found.start()] + (f"in {entity}" if word == "there" else entity) + "?"
    if not _agrees(word, entity):
        return None
    if word in _PERSONAL and (referent.in_passing or not entity.split()[-1][:1].isupper()):
        return None  # "he" is a name asked about or answered, not "whence" nor "Sicily" passed
    following = after.split()[0].lower().strip("?.!,;:") if after.split() else ""
    possessive = word in _POSSESSIVE or (
        word == "her" and following.isalpha() and following not in _NOT_A_NOUN
    )
    return question[: found.start()] + (f"{entity}'s" if possessive else entity) + after


_SINGULAR = frozenset({"it", "its"})
_PERSONAL = frozenset({"he", "him", "his", "she", "her", "hers"})
# "that" before a noun points back after a preposition, an auxiliary or a question word ("the
# MVP of that game", "when did that war end?"); after a noun it opens a clause ("the company
# that built it"). "this", "these" and "those" before a noun point back anywhere.
_DEMONSTRATIVE_EN = re.compile(
    r"(?:\b(?P<before>\w+)\s+)?\b(?P<word>this|these|those|that)\s+(?P<noun>[a-z][\w'-]*)", re.I
)
_BEFORE_THAT = _FRAME_PREPOSITIONS | _AUXILIARIES | _QUESTION_WORDS | {"during", "since", "until"}


def _demonstrative(question: str) -> tuple[int, int, str] | None:
    """A demonstrative before a noun that points back, as (start, end, noun): "that game" of
    "Who was the MVP of that game?"; None for "the company that built it"."""
    for found in _DEMONSTRATIVE_EN.finditer(question):
        noun = found.group("noun")
        if noun.lower() in _NOT_NAMES or noun.lower() in _AUXILIARIES or _past(noun):
            continue
        before = (found.group("before") or "").lower()
        if found.group("word").lower() != "that" or not before or before in _BEFORE_THAT:
            return found.start("word"), found.end("noun"), noun
    return None


_PLURAL = frozenset({"they", "them", "their"})


def _agrees(pronoun: str, entity: str) -> bool:
    """Whether a common noun agrees in number with the pronoun: "it" is not "teachers", "they"
    is not "university". A name (capitalised) may be either: "they" for "Microsoft"."""
    head = entity.split()[-1]
    if head[:1].isupper():
        return True
    plural = head.endswith("s") and not head.endswith(("ss", "us", "is"))
    return not ((pronoun in _SINGULAR and plural) or (pronoun in _PLURAL and not plural))


def _read_chinese(question: str, entity: str) -> str:
    text = re.sub(_OPENING_ZH, "", question).strip()
    found = _READABLE_ZH.search(text)
    if found is None:  # the subject dropped: it opens the question again
        text = entity + text
    else:
        rest = text[found.end() :]
        if rest.startswith(entity[-1]):  # 该书 for 自在奥义书: the noun is the entity's
            rest = rest[1:]
        text = text[: found.start()] + entity + rest
    body = text.rstrip("？?。 ")
    if body.endswith("呢"):  # "…的分子式呢？" asks what it is; "…在哪儿呢？" asks as it says
        body = body[:-1] if _QUESTION_WORD_ZH.search(body[:-1]) else body[:-1] + "是什么"
        text = body + "？"
    return text


# -- choosing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolution:
    """The reading taken, and whether another entity fit too (then the answer says which one
    was assumed)."""

    reading: Reading
    ambiguous: bool


def choose(found: Sequence[Reading], scores: Sequence[float], margin: float) -> Resolution:
    """Of ``found`` (each with how well the documents bear it out, higher better), the best
    scored reading, unless another entity fits too (its score within ``margin`` of the best)
    and was named more recently: then the best scored reading of the most recent such turn.
    A topic (:attr:`Referent.topic`) counts two margins more: what a question was about is
    what a pronoun most often points at, so a more recent entity that is no topic must fit
    better to be taken. Of equal scores, the fullest name ("Ada Hollins", not "Ada"); of one
    entity, its fullest name that fits (印度野驴, not 印度). Ambiguous when another entity
    fits at all. Two entities one of which holds the other ("diatomic oxygen", "oxygen";
    兰比尔 in a longer run of an answer) are one."""
    if not found:
        raise ValueError("choose needs at least one reading")
    raw = dict(zip(found, scores, strict=True))
    weighed = [(r, s + _TOPIC * margin * r.referent.topic) for r, s in raw.items()]
    ranked = sorted(weighed, key=lambda p: (-p[1], -len(p[0].referent.text)))
    taken, best = ranked[0]
    later = [
        r
        for r, s in ranked[1:]
        if s >= best - margin
        and r.referent.turn > taken.referent.turn
        and not _same_entity(r.referent.text, taken.referent.text)
    ]
    if later:
        latest = max(r.referent.turn for r in later)
        taken = next(r for r in later if r.referent.turn == latest)  # best scored first
    fuller = [
        r
        for r, s in ranked
        if s >= best - margin
        and r.referent.turn == taken.referent.turn
        and taken.referent.text.lower() in r.referent.text.lower()
    ]
    taken = max(fuller, key=lambda r: len(r.referent.text), default=taken)
    top = max(raw.values())
    ambiguous = any(
        s >= top - margin and not _same_entity(r.referent.text, taken.referent.text)
        for r, s in raw.items()
    )
    return Resolution(taken, ambiguous)


def _same_entity(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return a in b or b in a


def assumption_note(referent: Referent, lang: Lang) -> str:
    """What the answer says when two entities fit: which one it took the reference for."""
    return message("assumed_referent", lang, referent=referent.text)
