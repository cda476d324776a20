"""What a prompt holds, within the model's context window: earlier turns and sources, whole.

The window is spent in this order: the answer's ``max_tokens``, the instructions (system rules,
few-shot examples, the question), the most recent turns of the conversation up to their own
budget, then the sources, strongest first. A source is never cut silently: one that does not
fit is left out whole, and weaker ones that still fit may follow it. Only when not even the
strongest fits alone is it cut, at a word, and marked: its text ends with :data:`TRUNCATED`
and its citation says ``truncated``. Cutting keeps what retrieval ranked best; dropping it
would leave the model weaker sources or none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from core.errors import InvalidRequestError
from core.types import Hit, Strategy, Turn
from generation.prompts import TRUNCATED, build_messages, format_source
from generation.tokens import MESSAGE_TOKENS, TokenCounter

log = logging.getLogger(__name__)

MIN_SOURCE_TOKENS = 64  # below this a window holds no source worth reading
SEPARATOR_TOKENS = 1  # the blank line between two sources


@dataclass(frozen=True)
class Window:
    """The model's context window, in tokens, and what an answer may take of it by default."""

    tokens: int = 4096
    answer_tokens: int = 384


@dataclass(frozen=True)
class Prompt:
    messages: list[BaseMessage]
    sources: list[Hit]  # as the model reads them: a truncated one ends with TRUNCATED
    history: list[Turn]
    tokens: int  # the prompt's count; the answer's reserve comes on top


def turn_tokens(turns: Sequence[Turn], counter: TokenCounter) -> int:
    return sum(counter.count(t.content) + MESSAGE_TOKENS for t in turns)


def exchanges(history: Sequence[Turn]) -> list[list[Turn]]:
    """Turns grouped as the conversation went: a question with the replies that followed it."""
    groups: list[list[Turn]] = []
    for turn in history:
        if turn.role == "user" or not groups:
            groups.append([turn])
        else:
            groups[-1].append(turn)
    return groups


def fit_history(history: Sequence[Turn], counter: TokenCounter, budget: int) -> list[Turn]:
    """The most recent exchanges whose turns fit ``budget`` tokens, whole and in order.

    An exchange (a question and its answer) is kept or left out as one, so the model never sees
    an answer without its question; the first one that does not fit ends the history, so none
    is missing from the middle.
    """
    kept: list[Turn] = []
    used = 0
    for exchange in reversed(exchanges(history)):
        cost = turn_tokens(exchange, counter)
        if used + cost > budget:
            break
        kept[:0] = exchange
        used += cost
    return kept


def assemble(
    strategy: Strategy,
    question: str,
    hits: Sequence[Hit],
    history: Sequence[Turn],
    counter: TokenCounter,
    window: Window,
    *,
    answer_tokens: int | None = None,
    history_tokens: int = 1024,
    context_tokens: int | None = None,
) -> Prompt:
    """The prompt for ``question``: its instructions, the history and the sources that fit.

    Raises:
        InvalidRequestError: the instructions and the answer's reserve leave no room for a
            source (``max_tokens`` too close to the window).
    """
    limit = window.tokens - (answer_tokens or window.answer_tokens)
    room = limit - counter.count_messages(build_messages(strategy, question, [], []))
    if room < MIN_SOURCE_TOKENS:
        raise InvalidRequestError(
            f"an answer of up to {answer_tokens or window.answer_tokens} tokens leaves too little "
            f"of the model's {window.tokens}-token context window for the question and its "
            "sources: ask for fewer max_tokens"
        )
    kept = fit_history(history, counter, min(history_tokens, room - MIN_SOURCE_TOKENS))
    room -= turn_tokens(kept, counter)
    sources = select_sources(hits, counter, min(room, context_tokens or room))
    while True:  # counts of parts may not add up exactly to the count of the whole
        messages = build_messages(strategy, question, sources, kept)
        tokens = counter.count_messages(messages)
        if tokens <= limit or not sources:
            return Prompt(messages, sources, kept, tokens)
        if len(sources) > 1:
            sources = sources[:-1]
            continue
        size = counter.count(format_source(1, sources[0]))
        shorter = truncate_source(sources[0], counter, size - (tokens - limit))
        shrunk = len(shorter.chunk.text) < len(sources[0].chunk.text)
        sources = [shorter] if shrunk else []


def select_sources(hits: Sequence[Hit], counter: TokenCounter, budget: int) -> list[Hit]:
    """The strongest hits that fit ``budget`` tokens whole, in their order; see the module."""
    chosen: list[Hit] = []
    used = 0
    for hit in hits:
        cost = counter.count(format_source(len(chosen) + 1, hit)) + SEPARATOR_TOKENS
        if used + cost <= budget:
            chosen.append(hit)
            used += cost
    if hits and not chosen:
        chosen = [truncate_source(hits[0], counter, budget)]
    return chosen


def truncate_source(hit: Hit, counter: TokenCounter, budget: int) -> Hit:
    """``hit`` cut at a word so that, as source [1] with :data:`TRUNCATED` after it, it fits
    ``budget`` tokens; its offsets shrink with it."""
    text = hit.chunk.text.removesuffix(f" {TRUNCATED}")  # when cut again

    def cut(length: int) -> Hit:
        kept = _at_word(text[:length])
        boxes = [b for b in hit.chunk.boxes if b.start < len(kept)]  # the lines still read
        chunk = hit.chunk.model_copy(
            update={
                "text": f"{kept} {TRUNCATED}",
                "char_end": hit.chunk.char_start + len(kept),
                "boxes": boxes,
            }
        )
        return hit.model_copy(update={"chunk": chunk})

    low, high = 0, len(text)  # the longest prefix that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if counter.count(format_source(1, cut(middle))) <= budget:
            low = middle
        else:
            high = middle - 1
    log.info(
        "source %s p.%d cut to %d of %d characters to fit the context window",
        hit.filename,
        hit.chunk.page_start,
        low,
        len(text),
    )
    return cut(low)


def _at_word(prefix: str) -> str:
    """``prefix`` without its last, partial word, unless that would lose a fifth of it (text
    without spaces: Chinese, Japanese)."""
    space = prefix.rfind(" ")
    return (prefix[:space] if space >= len(prefix) * 4 // 5 else prefix).rstrip()
