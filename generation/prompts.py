"""Prompt templates, read from ``generation/prompts/<strategy>.toml`` into LangChain templates."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from core.errors import InvalidRequestError
from core.i18n import DEFAULT_LANG, Lang, language_of, message
from core.types import STRATEGIES, Hit, Strategy, Turn, place

PROMPTS_DIR = Path(__file__).parent / "prompts"
REFUSAL = message("refusal")  # in English; refusal(lang) in the question's language
TRUNCATED = "[…truncated]"  # ends a source cut to fit the context window


@cache
def load_prompt(name: str) -> dict:
    """The parsed template file ``generation/prompts/<name>.toml``."""
    with (PROMPTS_DIR / f"{name}.toml").open("rb") as f:
        return tomllib.load(f)


def load_template(strategy: Strategy, lang: Lang = DEFAULT_LANG) -> dict:
    """The parsed template file of a strategy, as a question in ``lang`` reads it: a table
    named for the language (``[zh]``) replaces the keys it gives."""
    if strategy not in STRATEGIES:
        raise InvalidRequestError(
            f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}"
        )
    template = load_prompt(strategy)
    return {**template, **template.get(lang, {})}


# Lines of a document that look like the prompt's own structure ("Question: ...", "问题：", a
# source header "[2] (file, page 1)") are marked, so a document cannot pose a question or a source.
_STRUCTURE_LINE = re.compile(r"^(?=\s*(?:Question:|问题：|Sources:|\[\d+\] \())", re.MULTILINE)


def format_source(n: int, hit: Hit) -> str:
    """A passage as the model reads it: its number, file and place, then its text under its
    heading (a passage deep in a section seldom names what it is about)."""
    chunk = hit.chunk
    pages = place(chunk.page_start, chunk.page_end, chunk.section)
    text = chunk.indexed_text if chunk.heading != chunk.section else chunk.text
    return f"[{n}] ({hit.filename}, {pages})\n{_STRUCTURE_LINE.sub('| ', text)}"


def refusal(lang: Lang = DEFAULT_LANG) -> str:
    """The sentence a refusal is, in ``lang``: what the model is told to reply and what the
    user is shown, whatever words the model refused in."""
    return message("refusal", lang)


def worked_examples(template: dict, lang: Lang = DEFAULT_LANG) -> str:
    """A template's examples as text for its system message. Small models follow examples
    written there; given as earlier chat turns, they answered worse (few-shot token F1 0.24 against
    0.29 on 20 SQuAD questions with Qwen2.5-Coder-0.5B)."""
    label = template.get("example_label", "Example:")
    answer = template.get("answer_label", "Answer: ")
    return "".join(
        f"\n\n{label}\n"
        + template["human"].format(context=e["context"], question=e["question"])
        + f"\n{answer}"
        + e["answer"].format(refusal=refusal(lang))
        for e in template.get("examples", [])
    )


def system_message(
    strategy: Strategy, sure: bool = False, lang: Lang = DEFAULT_LANG
) -> SystemMessage:
    """A strategy's rules and worked examples; ``sure``: its last rule says the sources hold
    the answer, instead of how to refuse (asked again after a refusal, see the template).
    The refusal it asks for is in ``lang``, the question's language."""
    template = load_template(strategy, lang)
    rule = template["sure_rule"] if sure else template["rule"].format(refusal=refusal(lang))
    examples = worked_examples(template, lang)
    return SystemMessage(template["system"].format(rule=rule, examples=examples))


def build_messages(
    strategy: Strategy, question: str, hits: Sequence[Hit], history: Sequence[Turn] = ()
) -> list[BaseMessage]:
    """System rules with worked examples (few-shot), earlier turns, and the question with sources.

    Earlier turns come without their sources: only the current question carries them, so the
    model cites numbers that mean what the answer's citations say.
    """
    lang = language_of(question)
    template = load_template(strategy, lang)
    context = "\n\n".join(format_source(n, hit) for n, hit in enumerate(hits, start=1))
    messages: list[BaseMessage] = [system_message(strategy, lang=lang)]
    for turn in history:
        messages.append(
            HumanMessage(turn.content) if turn.role == "user" else AIMessage(turn.content)
        )
    messages.append(HumanMessage(template["human"].format(context=context, question=question)))
    return messages
