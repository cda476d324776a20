"""A question translated into the language of the documents, to search them with.

A Chinese question about English documents (or the other way round) shares no word with them:
BM25 finds nothing, MiniLM's MaxSim reads one side only, and the evidence gate's thresholds
are tuned within one language. The multilingual embedder finds such passages, but its cosine
across languages hardly tells an answerable question from an unanswerable one (0.81 against
0.78 at the median: docs/chinese.md). Translated, the question is searched, gated, excerpted
and answered as one in the documents' language, so that the model quotes them; what kbqa says
to the reader (a refusal, a note) stays in the language of the question as asked.
"""

from __future__ import annotations

import re

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from core.i18n import Lang, language_of
from generation.parsing import is_refusal
from generation.prompts import load_prompt

PROMPT = "translate"
EXTRA_CHARS = 80  # a translation is about as long as its question: English runs longer
_QUOTES = "\"'`“”‘’«»「」"
_QUESTION_MARKS = ("?", "？")
_LABEL = re.compile(r"^\W*(?:english|chinese|英文|中文)\s*[:：]\s*", re.IGNORECASE)


def translate_messages(question: str, into: Lang) -> list[BaseMessage]:
    """The rules with worked examples in the system message, then the question, labelled."""
    template = load_prompt(PROMPT)[into]
    examples = "".join(
        f"\n\nExample:\n{template['human'].format(question=source)} {target}"
        for source, target in template["examples"]
    )
    return [
        SystemMessage(template["system"].format(examples=examples)),
        HumanMessage(template["human"].format(question=question)),
    ]


def clean_translation(reply: str, question: str, into: Lang) -> str | None:
    """The translated question in a model's reply, or None when the reply is none: empty, far
    longer than the question, a refusal, the question itself, not in the language asked for,
    or no question where one was asked (an answer: "Apollo Program ended in 1972.")."""
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    if not lines:
        return None
    text = _LABEL.sub("", lines[0]).strip(_QUOTES).strip()
    if not text or len(text) > 3 * len(question) + EXTRA_CHARS or is_refusal(text):
        return None
    if text == question.strip() or language_of(text) != into:
        return None
    if question.rstrip().endswith(_QUESTION_MARKS) and not text.endswith(_QUESTION_MARKS):
        return None
    return text
