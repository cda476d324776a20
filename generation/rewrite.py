"""Follow-up questions rewritten to stand alone, so that retrieval finds what they are about.

"And who was its engineer?" names nothing to search for; the chat model, shown the
conversation, rewrites it as "Who was the engineer of the Elmstead reservoir?". Its reply is
checked before it is used (:func:`clean_rewrite`): a small model may answer instead, refuse,
or ramble, and then the caller searches another way.

Only a question that points back (:func:`refers_back`: a pronoun, "this", an opening "and")
is a follow-up. One that does not, such as "Where does the Rhine begin?" after a question
about Tesla, stands alone: it is searched and answered as itself, as if asked first.

When the model's reply is no rewrite, :func:`pronoun_readings` offers the follow-up with its
pronoun replaced by each phrase of the question before; the caller keeps the reading that the
documents match best.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from core.text import CITATION_RE, STOPWORDS
from core.types import Turn
from generation.context import Window, fit_history
from generation.parsing import content_units, is_refusal
from generation.prompts import load_prompt
from generation.tokens import TokenCounter

PROMPT = "rewrite"
EXTRA_CHARS = 120  # a rewrite may add a name or two to the question, not a paragraph
_LABEL = re.compile(r"^\W*(?:(?:standalone|rewritten|last)\s+)?question\s*[:：]\s*", re.I)
_DECLINED = re.compile(
    r"^(?:i'?m sorry|sorry|i can(?:not|'t)|i am (?:unable|not able)|as an ai)", re.I
)
_QUOTES = "\"'`“”‘’«»「」"

# What makes a question point back at the conversation. English: personal pronouns, "this",
# "these", "those" (in a question these name something said before), "that" or "there" as its
# last word ("who did that?", "who lived there?"), and an opening that continues the last
# question ("and ...", "what about ..."). Chinese: 它/他/她(们), 其 (not in 其他, 尤其 ...),
# 该/此/这/那 (not in 那么 "then" alone), and 那/还有 ... openings.
_PRONOUNS_EN = (
    r"\b(?:it|its|itself|they|them|their|theirs|themselves|he|him|his|himself|she|her|hers|"
    r"herself|this|these|those)\b"
)
_PRONOUN_EN = re.compile(_PRONOUNS_EN, re.I)
_PRONOUNS_ZH = r"(?<![其吉])[它他她]|(?<![尤极与])其(?![他它实次余])"
_PRONOUN_ZH = re.compile(_PRONOUNS_ZH)
_REFERS_EN = re.compile(
    _PRONOUNS_EN
    + r"|\b(?:that|there)\s*[?.!]*\s*$"
    + r"|^\s*(?:and|but|also|so|then|what about|how about)\b",
    re.I,
)
_REFERS_ZH = re.compile(
    _PRONOUNS_ZH + r"|(?<!应)该|(?<![因如])此|这"
    r"|那(?:里|儿|个|些|时|年|次|位|件|座|本)"
    r"|^\s*(?:那|还有|另外|那么)"
)
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
    if _REFERS_EN.search(text) or _REFERS_ZH.search(text):
        return True
    cjk = len(_CJK_IDEOGRAPH.findall(text))
    words = len(_WORD.findall(_CJK_IDEOGRAPH.sub(" ", text)))
    if cjk:  # a Latin word says about as much as two characters
        return cjk + 2 * words <= _ELLIPSIS_CJK_CHARS
    return words <= _ELLIPSIS_WORDS


def transcript(history: Sequence[Turn]) -> str:
    return "\n".join(f"{'User' if t.role == 'user' else 'Assistant'}: {t.content}" for t in history)


def rewrite_messages(question: str, history: Sequence[Turn]) -> list[BaseMessage]:
    """The rules with worked examples, then the conversation and its follow-up question."""
    template = load_prompt(PROMPT)
    examples = "".join(
        "\n\nExample:\n"
        + template["human"].format(conversation=e["conversation"], question=e["question"])
        + f" {e['answer']}"
        for e in template.get("examples", [])
    )
    human = template["human"].format(conversation=transcript(history), question=question)
    return [SystemMessage(template["system"].format(examples=examples)), HumanMessage(human)]


def rewrite_prompt(
    question: str,
    history: Sequence[Turn],
    counter: TokenCounter,
    window: Window,
    *,
    history_tokens: int,
    reply_tokens: int,
) -> list[BaseMessage] | None:
    """The rewrite prompt with the most recent turns that fit, or None when none fits."""
    fixed = counter.count_messages(rewrite_messages(question, []))
    budget = min(history_tokens, window.tokens - reply_tokens - fixed)
    kept = fit_history(history, counter, budget)
    return rewrite_messages(question, kept) if kept else None


def clean_rewrite(reply: str, question: str, history: Sequence[Turn] = ()) -> str | None:
    """The rewritten question in a model's reply, or None when the reply is no rewrite.

    Not a rewrite: nothing, a label, far longer than the question, a refusal or an apology,
    text that keeps fewer than half of the question's content words (an answer, another
    question), the question itself, one that still points back (its pronoun kept), or, given
    the ``history``, one that adds no word of it (the subject dropped: "为什么被潇洒哥取笑？"
    for "它为什么被潇洒哥取笑？"). A small model often replies so, and then the caller's
    fallbacks find more.
    """
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    if not lines:
        return None
    text = _LABEL.sub("", lines[0]).strip().strip(_QUOTES).strip()
    if not text or text.endswith((":", "：")) or len(text) > 2 * len(question) + EXTRA_CHARS:
        return None  # nothing, a label ("Conversation:") or a ramble
    if _DECLINED.match(text) or is_refusal(text):
        return None
    if " ".join(text.lower().split()) == " ".join(question.lower().split()):
        return None
    if _PRONOUN_EN.search(text) or _PRONOUN_ZH.search(text):  # "Who was its engineer?"
        return None
    wanted, units = content_units(question), content_units(text)
    if wanted and len(wanted & units) * 2 < len(wanted):
        return None
    added = (units - wanted) & content_units(transcript(history)) if history else units
    if history and not any(_names_something(unit) for unit in added):
        return None  # the subject dropped, or a number put for it ("did 802 work with")
    return text


def _names_something(unit: str) -> bool:
    """A content unit that can name what a pronoun stands for: not a number, date or amount
    ("802", "1851", "20.8")."""
    return not _NUMERIC.fullmatch(unit)


# -- pronoun readings -------------------------------------------------------------------------
# A phrase a pronoun can stand for: up to four words of the question before, the first and the
# last of them content words, the others content words or "of", "the", "and" ("University of
# Chicago", "earth's atmosphere"). "he", "she" stand for a person, often the answer to the
# question before ("Who designed it?" "Gustave Eiffel."), so a short answer's phrases count too.
_PHRASE_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_GLUE = frozenset({"of", "the", "and"})
_MAX_PHRASE_WORDS = 4
_MAX_ANSWER_WORDS = 12
_NOT_NAMES = STOPWORDS | {"much", "many", "name", "named", "called", "kind", "type", "year"}
_MAX_READINGS = 24
# A number, a year, an amount: never what "it", "he" or 它 stands for.
_NUMERIC = re.compile(r"[\d.,%]+(?:s|st|nd|rd|th)?")
_READABLE = re.compile(r"\b(?:it|its|they|them|their|he|him|his|she|her)\b", re.I)
_PERSONAL = frozenset({"he", "him", "his", "himself", "she", "her", "hers", "herself"})
_POSSESSIVE = frozenset({"its", "their", "his", "hers"})
_NOT_A_NOUN = frozenset(
    """a an the of in on at to for from by with about into over under after before than and
    or""".split()  # noqa: SIM905
)


def pronoun_readings(question: str, history: Sequence[Turn]) -> list[str]:
    """``question`` with its first personal pronoun replaced by each phrase it may stand for
    (see above), the last answer's first; [] for a question without one ("this" and "those"
    qualify a noun) or without an earlier question. "its" and "their" become "<phrase>'s"."""
    found = _READABLE.search(question)
    asked = [t.content for t in history if t.role == "user"]
    if found is None or not asked:
        return []
    pronoun = found.group().lower()
    sources = [asked[-1]]
    answers = [t.content for t in history if t.role == "assistant"]
    if pronoun in _PERSONAL and answers and not is_refusal(answers[-1]):
        answer = CITATION_RE.sub(" ", answers[-1])
        if len(_PHRASE_WORD.findall(answer)) <= _MAX_ANSWER_WORDS:
            sources.insert(0, answer)
    phrases = dict.fromkeys(p for text in sources for p in _phrases(text))
    return [_replace(question, found, phrase) for phrase in list(phrases)[:_MAX_READINGS]]


def _phrases(text: str) -> list[str]:
    words = [w.group() for w in _PHRASE_WORD.finditer(text)]
    out = []
    for i in range(len(words)):
        for j in range(i, min(i + _MAX_PHRASE_WORDS, len(words))):
            span = words[i : j + 1]
            span[-1] = re.sub(r"['’]s$", "", span[-1])
            if (
                _content(span[0])
                and _content(span[-1])
                and all(_content(w) or w.lower() in _GLUE for w in span)
            ):
                out.append(" ".join(span))
    return out


def _content(word: str) -> bool:
    """A word that can be part of a name: not a function word, nor a number, nor, lower-cased,
    a verb's past form ("designed", "planted")."""
    return (
        len(word) >= 3
        and word.lower() not in _NOT_NAMES
        and not (word.islower() and word.endswith("ed"))
        and _names_something(word)
    )


def _replace(question: str, found: re.Match[str], phrase: str) -> str:
    """``question`` with the pronoun ``found`` replaced by ``phrase``; "her" is possessive
    before a noun ("her reign"), not before "the", a preposition or the end ("gave her the")."""
    pronoun, after = found.group().lower(), question[found.end() :]
    following = after.split()[0].lower().strip("?.!,;:") if after.split() else ""
    possessive = pronoun in _POSSESSIVE or (
        pronoun == "her" and following.isalpha() and following not in _NOT_A_NOUN
    )
    return question[: found.start()] + (f"{phrase}'s" if possessive else phrase) + after
