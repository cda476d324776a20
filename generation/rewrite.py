"""Follow-up questions rewritten to stand alone, so that retrieval finds what they are about.

"And who was its engineer?" names nothing to search for; the chat model, shown the
conversation, rewrites it as "Who was the engineer of the Elmstead reservoir?". Its reply is
checked before it is used (:func:`clean_rewrite`): a small model may answer instead, refuse,
or ramble, and then the caller searches another way.

Only a question that points back (:func:`generation.referents.refers_back`) is a
follow-up. The caller first reads it by the rules of :mod:`generation.referents` (its
reference taken for an entity named earlier, never a number); the model rewrites only what
those rules cannot read ("Why?", "And the engineer?").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from core.types import Turn
from generation.context import Window, fit_history
from generation.parsing import content_units, is_refusal
from generation.prompts import load_prompt
from generation.referents import PRONOUN_EN, PRONOUN_ZH, names_something
from generation.tokens import TokenCounter

PROMPT = "rewrite"
EXTRA_CHARS = 120  # a rewrite may add a name or two to the question, not a paragraph
_LABEL = re.compile(r"^\W*(?:(?:standalone|rewritten|last)\s+)?question\s*[:：]\s*", re.I)
_DECLINED = re.compile(
    r"^(?:i'?m sorry|sorry|i can(?:not|'t)|i am (?:unable|not able)|as an ai)", re.I
)
_QUOTES = "\"'`“”‘’«»「」"


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
    if PRONOUN_EN.search(text) or PRONOUN_ZH.search(text):  # "Who was its engineer?"
        return None
    wanted, units = content_units(question), content_units(text)
    if wanted and len(wanted & units) * 2 < len(wanted):
        return None
    added = (units - wanted) & content_units(transcript(history)) if history else units
    if history and not any(names_something(unit) for unit in added):
        return None  # the subject dropped, or a number put for it ("did 802 work with")
    return text
