"""Ask the chat model, through its OpenAI-compatible API, for a cited answer."""

from __future__ import annotations

import collections.abc
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI

from core.errors import ModelError
from core.i18n import Lang, language_of, message
from core.settings import GenerationSettings, LLMSettings
from core.types import (
    Answer,
    AnswerItem,
    Discard,
    Guard,
    GuardEvent,
    Hit,
    Sampling,
    Strategy,
    Turn,
    final_answer,
)
from generation.banned import BannedWords
from generation.context import Prompt, Window, assemble
from generation.dialects import ServerDialect, VllmDialect
from generation.parsing import Renumbering, citations_for, is_refusal, parse_answer
from generation.prompts import refusal, system_message
from generation.repetition import RepetitionDetector
from generation.rewrite import clean_rewrite, rewrite_prompt
from generation.tokens import EstimateCounter, TokenCounter
from generation.translate import clean_translation, translate_messages

WITHHELD = message("answer.withheld")  # in English; withheld(lang) in the question's language


def withheld(lang: Lang) -> str:
    """What a withheld answer says instead: the model kept writing a banned word."""
    return message("answer.withheld", lang)


def make_chat_model(
    settings: LLMSettings, base_url: str, http_client: httpx.Client | None = None
) -> ChatOpenAI:
    """A LangChain chat model for any OpenAI-compatible server (vLLM, llama.cpp, ...)."""
    return ChatOpenAI(
        base_url=base_url,
        http_client=http_client,
        api_key=settings.api_key,  # type: ignore[arg-type]
        model=settings.served_name,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,  # type: ignore[call-arg]
        # langchain-openai sends max_completion_tokens, which llama.cpp's server ignores.
        extra_body={"max_tokens": settings.max_tokens},
        timeout=settings.timeout_s,
        max_retries=1,
    )


# Sampling controls that are OpenAI's own fields: the same on every server.
OPENAI_FIELDS = {"temperature", "top_p", "max_tokens", "seed", "stop"}


def _request_params(
    sampling: Sampling | None,
    extra_body: dict[str, Any] | None,
    dialect: ServerDialect | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """Sampling overrides as chat-model call arguments.

    OpenAI's own fields are arguments; the rest go in the request body under the server's
    names (see :mod:`generation.dialects`), and so does ``max_tokens``, which llama.cpp reads
    there. ``strict`` bans banned words harder, for a retry.
    """
    params: dict[str, Any] = (
        sampling.model_dump(include=OPENAI_FIELDS, exclude_none=True) if sampling else {}
    )
    extra: dict[str, Any] = dict(extra_body or {})  # the model's own, which a call would replace
    if "max_tokens" in params:
        extra["max_tokens"] = params["max_tokens"]
    if sampling is not None:
        extra |= (dialect or VllmDialect()).fields(sampling, strict)
    if extra:
        params["extra_body"] = extra
    return params


@contextmanager
def _model_errors(chat: BaseChatModel) -> Iterator[None]:
    """The chat server's failures as :class:`ModelError`."""
    try:
        yield
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        where = getattr(chat, "openai_api_base", "its URL")
        raise ModelError(f"chat model at {where} unreachable: {exc}") from exc
    except openai.APIStatusError as exc:
        raise ModelError(f"chat model refused the request: {exc.message}") from exc


@dataclass
class _Attempt:
    """One call of the model: its whole text, and why the guard stopped it, if it did."""

    text: str
    event: GuardEvent | None = None
    loop_start: int | None = None  # for a loop: text[:loop_start] keeps one copy


class Generator:
    def __init__(
        self,
        chat: BaseChatModel,
        model_name: str,
        settings: GenerationSettings,
        dialect: ServerDialect | None = None,
        counter: TokenCounter | None = None,
        window: Window | None = None,
    ) -> None:
        """Writes cited answers with ``chat``, within its context window.

        Args:
            chat: the chat model.
            model_name: the name answers report.
            settings: prompt strategy, budgets and the output guard.
            dialect: the server's names for sampling fields (default: vLLM's).
            counter: counts tokens as the model does (default: an estimate).
            window: the model's context window and default answer length.
        """
        self.chat = chat
        self.model_name = model_name
        self.settings = settings
        self.dialect = dialect or VllmDialect()
        self.counter = counter or EstimateCounter()
        self.window = window or Window()

    def stream(
        self,
        question: str,
        hits: Sequence[Hit],
        strategy: Strategy,
        sampling: Sampling | None = None,
        history: Sequence[Turn] = (),
        sure: bool = False,
        lang: Lang | None = None,
    ) -> Iterator[AnswerItem]:
        """Yield the answer's text as it is generated, then the parsed :class:`Answer`.

        The output guard watches the text: when the model loops, or writes a banned word, the
        attempt is stopped, a :class:`Discard` is yielded and the model is asked again, once for
        each reason (with a stronger repetition penalty, or banning harder); so at most three
        attempts, when a retry that no longer loops writes a banned word. Text that might be
        the start of a banned word is held back until the next text shows it is not. With
        ``sure``, a refusal is such a reason too: the model is asked once more, its last rule
        saying that the sources hold the answer.

        Args:
            question: the question, as the user asked it.
            hits: retrieved chunks, best first; those that fit the budget become sources.
            strategy: prompt strategy.
            sampling: per-request decoding overrides.
            history: earlier turns of the conversation.
            sure: the best source matches the question closely (:class:`Evidence.sure`).
            lang: the language the reader is answered in where kbqa speaks (a refusal, a
                withheld answer, a retry): the question's unless given, as for a question
                translated into the documents' language (:mod:`generation.translate`).
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        prompt = self.prompt(question, hits, strategy, sampling, history)
        context = prompt.sources
        lang = lang or language_of(question)
        if not context:
            yield refusal(lang)
            yield self._answer(question, refusal(lang), context, strategy, timings, lang)
            return
        messages = prompt.messages
        timings["prompt"] = time.perf_counter() - start
        sampling = sampling or Sampling()
        banned = BannedWords(sampling.bad_words or ())
        events: list[GuardEvent] = []
        while True:
            params = self._params(sampling, events)
            numbering = Renumbering(len(context))  # the stream's, as the answer's below
            attempt = yield from self._attempt(messages, params, banned, numbering, timings, start)
            if attempt.event is None and sure and self._refused(attempt.text, events):
                attempt = _Attempt(attempt.text, GuardEvent(reason="refusal"))
                messages = [system_message(strategy, sure=True, lang=lang), *messages[1:]]
            if attempt.event is None:
                break
            events.append(attempt.event)
            if not self._retry(events):
                break
            said = message(f"discard.{attempt.event.reason}", lang)
            yield Discard(reason=attempt.event.reason, message=said)
        timings["generation"] = time.perf_counter() - start - timings["prompt"]
        yield self._guarded(question, attempt, events, context, strategy, timings, lang)

    def _attempt(
        self,
        messages: list[BaseMessage],
        params: dict[str, Any],
        banned: BannedWords,
        numbering: Renumbering,
        timings: dict[str, float],
        start: float,
    ) -> collections.abc.Generator[str, None, _Attempt]:
        """Stream one call of the model, sending on the text the guard lets through, its
        source numbers as the answer will show them."""
        loops = self._detector()
        text, sent = "", 0
        pieces = self.chat.stream(messages, **params)
        try:
            with _model_errors(self.chat):
                for chunk in pieces:
                    piece = chunk.content if isinstance(chunk.content, str) else ""
                    if not piece:
                        continue
                    timings.setdefault("first_token", time.perf_counter() - start)
                    text += piece
                    if word := banned.find(text, final=False):
                        return _Attempt(text, GuardEvent(reason="banned_word", word=word))
                    if loops is not None and (loop := loops.check(text)) is not None:
                        event = GuardEvent(reason="repetition", seq_rep_4=round(loop.seq_rep_4, 3))
                        return _Attempt(text, event, loop.start)
                    if (safe := banned.safe_end(text)) > sent:
                        if shown := numbering.feed(text[sent:safe]):
                            yield shown
                        sent = safe
        finally:  # ends the request, so the server stops generating a stopped attempt
            if (close := getattr(pieces, "close", None)) is not None:
                close()
        if word := banned.find(text):
            return _Attempt(text, GuardEvent(reason="banned_word", word=word))
        if shown := numbering.feed(text[sent:]) + numbering.flush():
            yield shown
        return _Attempt(text)

    def prompt(
        self,
        question: str,
        hits: Sequence[Hit],
        strategy: Strategy,
        sampling: Sampling | None = None,
        history: Sequence[Turn] = (),
    ) -> Prompt:
        """The answer prompt, fitted to the context window (see :mod:`generation.context`)."""
        return assemble(
            strategy,
            question,
            hits,
            history,
            self.counter,
            self.window,
            answer_tokens=sampling.max_tokens if sampling else None,
            history_tokens=self.settings.history_tokens,
            context_tokens=self.settings.context_tokens,
        )

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        """A follow-up ``question`` rewritten by the model to stand alone, from the most recent
        turns of ``history`` that fit; greedy and short. None when no turn fits or the reply
        is no rewrite (see :func:`generation.rewrite.clean_rewrite`)."""
        reply_tokens = self.settings.rewrite_max_tokens
        messages = rewrite_prompt(
            question,
            history,
            self.counter,
            self.window,
            history_tokens=self.settings.history_tokens,
            reply_tokens=reply_tokens,
        )
        if messages is None:
            return None
        sampling = Sampling(temperature=0, max_tokens=reply_tokens, stop=["\n"])
        with _model_errors(self.chat):
            reply = self.chat.invoke(messages, **self._params(sampling, ()))
        if reply.response_metadata.get("finish_reason") == "length":  # cut off: unusable
            return None
        return clean_rewrite(str(reply.content), question, history)

    def translate(self, question: str, into: Lang) -> str | None:
        """``question`` translated by the model into ``into``, to search documents written in
        it (:mod:`generation.translate`); greedy and short. None when the reply is unusable."""
        sampling = Sampling(temperature=0, max_tokens=self.settings.rewrite_max_tokens)
        messages = translate_messages(question, into)
        with _model_errors(self.chat):
            reply = self.chat.invoke(messages, **self._params(sampling, ()))
        if reply.response_metadata.get("finish_reason") == "length":  # cut off: unusable
            return None
        return clean_translation(str(reply.content), question, into)

    def _detector(self) -> RepetitionDetector | None:
        if not self.settings.repetition_guard:
            return None
        return RepetitionDetector(threshold=self.settings.repetition_threshold)

    @staticmethod
    def _refused(text: str, events: Sequence[GuardEvent]) -> bool:
        """Whether an attempt is a refusal not yet asked again."""
        return is_refusal(text) and not any(e.reason == "refusal" for e in events)

    def _retry(self, events: list[GuardEvent]) -> bool:
        """Whether to ask again: once per reason, for a banned word only if it can be banned
        harder."""
        reason = events[-1].reason
        if sum(e.reason == reason for e in events) > 1:
            return False
        return reason != "banned_word" or self.dialect.tightens_bans

    def _params(self, sampling: Sampling, events: Sequence[GuardEvent]) -> dict[str, Any]:
        if any(e.reason == "repetition" for e in events):
            asked = sampling.repetition_penalty or 1.0
            penalty = min(2.0, max(self.settings.retry_repetition_penalty, asked + 0.2))
            sampling = sampling.model_copy(update={"repetition_penalty": round(penalty, 2)})
        strict = any(e.reason == "banned_word" for e in events)
        extra_body = getattr(self.chat, "extra_body", None)
        return _request_params(sampling, extra_body, self.dialect, strict)

    def answer(
        self, question: str, hits: Sequence[Hit], strategy: Strategy, **kwargs: Any
    ) -> Answer:
        return final_answer(self.stream(question, hits, strategy, **kwargs))

    def _guarded(
        self,
        question: str,
        attempt: _Attempt,
        events: list[GuardEvent],
        context: Sequence[Hit],
        strategy: Strategy,
        timings: dict[str, float],
        lang: Lang,
    ) -> Answer:
        """The answer from the last attempt, with what the guard did to get it."""
        if not events:
            return self._answer(question, attempt.text, context, strategy, timings, lang)
        if attempt.event is None:
            action, raw = "retried", attempt.text
        elif attempt.event.reason == "repetition":
            action, raw = "truncated", attempt.text[: attempt.loop_start]
        else:
            action, raw = "withheld", withheld(lang)
        guard = Guard(action=action, attempts=len(events) + (attempt.event is None), events=events)
        if action == "withheld":  # nothing of the model's text: it holds the banned word
            answer = Answer(
                question=question,
                answer=raw,
                grounded=False,
                support=0.0,
                citations=[],
                strategy=strategy,
                model=self.model_name,
                timings=timings,
            )
        else:
            answer = self._answer(question, raw, context, strategy, timings, lang)
        answer.guard = guard
        return answer

    def _answer(
        self,
        question: str,
        raw: str,
        context: Sequence[Hit],
        strategy: Strategy,
        timings: dict[str, float],
        lang: Lang,
    ) -> Answer:
        chain_of_thought = strategy == "chain-of-thought"
        parsed = parse_answer(raw, context, chain_of_thought, question=question, lang=lang)
        # Numbered in order of first mention as shown: the reasoning, then the answer (as the
        # stream showed them, unless a citation was replaced by the source that holds it).
        numbering = Renumbering(len(context))
        reasoning = numbering.text(parsed.reasoning) if parsed.reasoning else None
        return Answer(
            question=question,
            answer=numbering.text(parsed.answer),
            reasoning=reasoning,
            grounded=parsed.grounded,
            support=parsed.support,
            unsupported_answer=numbering.text(parsed.unsupported) if parsed.unsupported else None,
            citations=citations_for(parsed.cited, context, numbering),
            strategy=strategy,
            model=self.model_name,
            timings=timings,
        )
