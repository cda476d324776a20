"""Follow-up questions rewritten to stand alone, so that retrieval finds what they are about.

"And who was its engineer?" names nothing to search for; the chat model, shown the
conversation, rewrites it as "Who was the engineer of the Elmstead reservoir?". Its reply is
checked before it is used (:func:`clean_rewrite`): a small model may answer instead, refuse,
or ramble, and then the caller searches another way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

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


def clean_rewrite(reply: str, question: str) -> str | None:
    """The rewritten question in a model's reply, or None when the reply is no rewrite.

    Not a rewrite: nothing, a label, far longer than the question, a refusal or an apology,
    text that keeps fewer than half of the question's content words (an answer, another
    question), or the question itself: a small model repeats follow-ups it should have
    rewritten, and then the caller's fallback, which searches with the previous question too,
    finds more.
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
    wanted = content_units(question)
    if wanted and len(wanted & content_units(text)) * 2 < len(wanted):
        return None
    return text
