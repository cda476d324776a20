"""What two questions share, and a question rewritten as a follow-up would ask it: the text
rules behind the conversations of ``kbqa eval --chat`` (:mod:`evaluation.conversations`).

- :func:`shared_subject`: the thing two questions are both about ("印度野驴", "the university").
- :func:`with_pronoun`: a question with that subject as a pronoun ("When was it built?").
- :func:`ellipsis`: the second of two questions that share a subject and a frame, as a person
  would say it after the first: "And its summer festival?", "那么它的分子式呢？".
- :func:`answer_entity`: a thing the first question's answer names and the second question is
  about ("nitroaereus"), so that the second can point at the answer with a pronoun.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_STOPWORDS = frozenset(
    """a an the of in on at to for from by with about as into over after before between and or
    but not no is are was were be been being do does did has have had can could will would
    shall should may might must what which who whom whose when where why how that this these
    those there it its they their them he his she her some any all each many much more most
    other another one two first also than then such very name names called type kind types
    """.split()  # noqa: SIM905 - a list of words reads better as one
)
_WORD = re.compile(r"[^\W_]+(?:[-–][^\W_]+)*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
# Chinese question words and particles: no subject spans them.
_ZH_FUNCTION = re.compile(
    r"什么时候|为什么|什么|哪些|哪里|哪儿|哪个|哪一|多少|怎么|怎样|如何|何时|是谁|谁|几|吗|呢|的|了|是|在|有|被|和|与"
    r"|[？?，,。、“”「」《》（）()！!\s]"
)
_MIN_SUBJECT_CHARS = 4  # English; Chinese needs 2 characters
_DETERMINERS = frozenset({"a", "an", "this", "that", "these", "those", "every", "each", "some"})
_BEFORE_A_SUBJECT = frozenset(
    """the is are was were will would does did do can could should may might must has have
    had""".split()  # noqa: SIM905
)
_PREPOSITIONS = frozenset(
    {"of", "in", "on", "at", "to", "for", "from", "by", "with", "about", "into", "over", "under"}
)
_ADJECTIVE_ENDINGS = ("ic", "al", "ive", "ous", "ful", "able", "ible", "ary", "ant", "ent")


def shared_subject(question: str, other: str, title: str | None = None) -> str | None:
    """The longest phrase of ``question`` that ``other`` names too and that can be the thing
    the question is about, as written in ``question``; None if there is none.

    English: up to four words that start and end with a content word, and are a name (written
    with capitals, not as the first word) or words of ``title`` (the document's, e.g.
    "University of Chicago"); not after "a"/"an" or an adjective, nor followed by a noun they
    qualify ("oxygen production"), in ``question`` and somewhere in ``other`` too. Chinese: two
    or more characters outside question words and particles, not the end of a longer word
    (莎莉公司's 公司) nor a verb (导致了).
    """
    if _CJK.search(question):
        return _shared_chinese(question, other)
    words = list(_WORD.finditer(question))
    other_lower = f" {' '.join(w.lower() for w in _WORD.findall(other))} "
    titled = {_singular(w.lower()) for w in _WORD.findall(title or "") if _content(w)}
    best: str | None = None
    seen: set[str] = set()  # a phrase is judged where it first occurs, where a pronoun goes
    for i in range(len(words)):
        for j in range(i, min(i + 4, len(words))):
            span = words[i : j + 1]
            phrase = question[span[0].start() : span[-1].end()]
            key = " ".join(w.group().lower() for w in span)
            if key in seen:
                continue
            seen.add(key)
            if (
                _content(span[0].group())
                and _content(span[-1].group())
                and len(phrase) >= _MIN_SUBJECT_CHARS
                and f" {key} " in other_lower
                and _a_subject_in(key, other)
                and _names_a_thing(span, i, titled)
                and _stands_as_noun(question, words, i, j)
                and (best is None or len(phrase) > len(best))
            ):
                best = phrase
    return best


def _content(word: str) -> bool:
    return len(word) >= 3 and word.lower() not in _STOPWORDS


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith(("ss", "us", "is")) else word


def _names_a_thing(span: list[re.Match[str]], start: int, titled: set[str]) -> bool:
    content = [w.group() for w in span if _content(w.group())]
    if titled and all(_singular(w.lower()) in titled for w in content):
        return True
    return start > 0 and all(w[0].isupper() for w in content)


def _stands_as_noun(question: str, words: list[re.Match[str]], i: int, j: int) -> bool:
    before = words[i - 1].group().lower() if i > 0 else ""
    if before in _DETERMINERS or before.endswith(_ADJECTIVE_ENDINGS):
        return False
    after = question[words[j].end() :]
    if re.match(r"\s+of\s+[A-Z]", after):  # part of a longer name: "University of Chicago"
        return False
    if re.match(r"['’]s\b", after):
        return True
    return not _qualifies_next(question, words, i, j)


def _qualifies_next(text: str, words: list[re.Match[str]], i: int, j: int) -> bool:
    """Whether ``words[i..j]`` of ``text`` is followed by a content word, a noun it qualifies
    ("oxygen production"), without standing where a subject does, before its verb ("will
    oxygen condense", "the university runs")."""
    before = words[i - 1].group().lower() if i > 0 else ""
    return (
        j + 1 < len(words)
        and _content(words[j + 1].group())
        and re.match(r"\s+\S", text[words[j].end() :]) is not None
        and before not in _BEFORE_A_SUBJECT
    )


def _a_subject_in(key: str, other: str) -> bool:
    """Whether ``other`` names ``key`` (lower-case words) as a thing of its own somewhere, not
    only qualifying the noun after it: "largest university press" is about a press, so a
    pronoun for "the university" after it would point at the press."""
    words = list(_WORD.finditer(other))
    size = len(key.split())
    for i in range(len(words) - size + 1):
        span = words[i : i + size]
        if " ".join(w.group().lower() for w in span) == key and not _qualifies_next(
            other, words, i, i + size - 1
        ):
            return True
    return False


def _shared_chinese(question: str, other: str) -> str | None:
    best = ""
    for segment in _ZH_FUNCTION.split(question):  # a subject starts a segment
        for end in range(len(segment), len(best), -1):
            if segment[:end] in other:
                at = question.find(segment) + end
                if not question.startswith(("了", "着", "过"), at):  # a verb, not a subject
                    best = segment[:end]
                break
    return best if len(best) >= 2 else None


def with_pronoun(question: str, subject: str) -> str | None:
    """``question`` with ``subject`` (and a "the" before it) replaced by a pronoun: it/its,
    they/their for a plural, 它 in Chinese. None if the subject is not in the question."""
    if _CJK.search(subject):
        return question.replace(subject, "它", 1) if subject in question else None
    plural = subject.lower().endswith("s") and not subject.lower().endswith(("ss", "us", "is"))
    pattern = re.compile(rf"\b(\w+\s+)?(?:the\s+)?{re.escape(subject)}(['’]s\b)?", re.I)

    def pronoun(match: re.Match[str]) -> str:
        before = match.group(1) or ""
        if match.group(2):
            word = "their" if plural else "its"
        elif before.strip().lower() in _PREPOSITIONS:
            word = "them" if plural else "it"
        else:
            word = "they" if plural else "it"
        return before + word if before or match.start() else word.capitalize()

    asked, count = pattern.subn(pronoun, question, count=1)
    return asked if count else None


_DIGIT = re.compile(r"\d")


# -- ellipsis ---------------------------------------------------------------------------------
# English: the words a follow-up keeps from the frame before its slot ("And in 1990?").
_KEPT_BEFORE_SLOT = (_PREPOSITIONS - {"of"}) | {"the", "a", "an"}  # "of" is the frame's
_MAX_SLOT_WORDS = 6
# Chinese: the end of a question that asks "what is ...", which "…呢？" says alone.
_ZH_ASKS_WHAT = re.compile(r"(?:是|为|叫)(?:什么|谁|哪里|哪儿|哪些|多少|何时|什么时候)$")


def ellipsis(first: str, second: str, subject: str) -> str | None:
    """``second`` said as a person would after ``first``, the two sharing ``subject``: only
    what differs, the subject dropped. None when the two share no frame to drop.

    English: the two must share a frame (their first and last words, at least half of
    ``second``), and the follow-up is the slot that differs: "What is the name of the
    university's core curriculum?" then "What is the name of the university's summer
    festival?" is "And its summer festival?". Chinese drops a subject that opens the
    question (零形回指): "印度野驴栖息在哪儿？" after "印度野驴最高每小时可跑多少公里？"
    is "那栖息在哪儿呢？", and "乙酰胺的分子式是什么？" is "那么它的分子式呢？".
    """
    if _CJK.search(second):
        return _ellipsis_chinese(first, second, subject)
    a = [w.group().lower() for w in _WORD.finditer(first)]
    words = list(_WORD.finditer(second))
    b = [w.group().lower() for w in words]
    prefix = _common(a, b)
    suffix = _common(a[prefix:][::-1], b[prefix:][::-1])
    slot = words[prefix : len(words) - suffix]
    if not slot or len(slot) > _MAX_SLOT_WORDS or prefix + suffix < max(3, len(b) / 2):
        return None
    if prefix == len(a) - suffix or not any(_content(w.group()) for w in slot):
        return None  # the first question has no slot there: nothing was replaced
    text = second[slot[0].start() : slot[-1].end()]
    asked = (
        f"And {' '.join(w for w in (_kept_before(second[: slot[0].start()], subject), text) if w)}?"
    )
    if subject.lower() in text.lower():
        return with_pronoun(asked, subject)
    return asked if subject.lower() in _frame(second, slot) else None


def _common(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _frame(question: str, slot: Sequence[re.Match[str]]) -> str:
    return (question[: slot[0].start()] + " " + question[slot[-1].end() :]).lower()


def _kept_before(prefix: str, subject: str) -> str:
    """What the follow-up keeps of the frame's end: the subject's possessive as "its", or a
    preposition and an article ("in", "for the")."""
    if re.search(rf"\b{re.escape(subject)}['’]s\s*$", prefix, re.I):
        return "its"
    kept: list[str] = []
    for word in reversed(_WORD.findall(prefix)[-2:]):
        if word.lower() not in _KEPT_BEFORE_SLOT:
            break
        kept.insert(0, word)
    return " ".join(kept)


def _ellipsis_chinese(first: str, second: str, subject: str) -> str | None:
    if not second.startswith(subject) or subject not in first or _DIGIT.search(subject):
        return None
    rest = second[len(subject) :].rstrip("？?。 ")
    if rest.startswith("的"):
        slot = _ZH_ASKS_WHAT.sub("", rest[1:])
        return f"那么它的{slot}呢？" if slot and slot != rest[1:] else None
    if len(rest) < 2 or rest.startswith("是"):  # 那是… reads as "that is …"
        return None
    return f"那{rest}呢？"


# -- the answer as the referent ---------------------------------------------------------------
_ITEM_SEPARATOR = re.compile(r"\s*(?:[,;，；、]|\band\b|\bor\b|和|与)\s*")
_MAX_ENTITY_WORDS = 5
_MAX_ENTITY_CHARS_ZH = 12
_VERB_BEFORE = frozenset({"be", "to", "been", "being"})
_PREDICATE_ENDINGS = ("ible", "able", "ive", "ous", "ful")


def answer_entity(first: str, answers: Sequence[str], second: str) -> str | None:
    """What ``second`` is about that an answer to ``first`` names and ``first`` does not, as
    written in ``second``: "nitroaereus" (answer to "What is consumed in both combustion and
    respiration?") in "For what other action did Mayow show nitroaereus responsible?". Never a
    number or a date. None when there is none.

    English: a whole answer or one item of it ("oxygen" of "oxygen and hydrogen"), up to five
    words, standing as a noun in ``second`` (not part of a longer name, not qualifying the
    noun after it, not a verb). Chinese: the longest start of ``second`` that an answer holds.
    """
    if _CJK.search(second):
        return _answer_entity_chinese(first, answers, second)
    items = {i for a in answers for i in (a, *_ITEM_SEPARATOR.split(a)) if i.strip()}
    for item in sorted(items, key=len, reverse=True):
        item = item.strip().strip(".")
        if _DIGIT.search(item) or len(item.split()) > _MAX_ENTITY_WORDS or len(item) < 3:
            continue
        if item.lower() in first.lower() or not _content(item.split()[-1]):
            continue
        found = re.search(rf"\b{re.escape(item)}\b", second, re.I)
        if found and _a_noun_at(second, found):
            return found.group()
    return None


def _a_noun_at(question: str, found: re.Match[str]) -> bool:
    words = list(_WORD.finditer(question))
    i = next(k for k, w in enumerate(words) if w.start() >= found.start())
    j = max(k for k, w in enumerate(words) if w.end() <= found.end())
    before = words[i - 1].group() if i > 0 else ""
    in_a_name = i > 1 and before[:1].isupper() and found[0][:1].isupper()  # "Booth School"
    if before.lower() in _VERB_BEFORE or in_a_name:  # or a verb: "to be teaching"
        return False
    if before.lower() in _DETERMINERS or before.lower().endswith(_ADJECTIVE_ENDINGS):
        return False  # "diatomic oxygen" is not what "oxygen" names
    after = question[found.end() :]
    if re.match(r"\s+(?:of\s+)?[A-Z]", after):  # part of a longer name
        return False
    following = words[j + 1].group().lower() if j + 1 < len(words) else ""
    # "show nitroaereus responsible": an adjective after it, not a noun it qualifies
    return following.endswith(_PREDICATE_ENDINGS) or not _qualifies_next(question, words, i, j)


def _answer_entity_chinese(first: str, answers: Sequence[str], second: str) -> str | None:
    said = "".join(answers)
    for end in range(min(len(second), _MAX_ENTITY_CHARS_ZH), 1, -1):
        start = second[:end]
        if _ZH_FUNCTION.search(start) or _DIGIT.search(start):
            continue
        if start in said and start not in first and not second.startswith(("了", "着", "过"), end):
            return start
    return None
