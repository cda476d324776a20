"""Ask the chat model, through its OpenAI-compatible API, for a cited answer."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from core.errors import ModelError
from core.settings import GenerationSettings, LLMSettings
from core.types import Answer, Hit, Sampling, Strategy, Turn, final_answer
from generation.context import Prompt, Window, assemble
from generation.parsing import citations_for, parse_answer
from generation.prompts import REFUSAL
from generation.rewrite import clean_rewrite, rewrite_prompt
from generation.tokens import EstimateCounter, TokenCounter


def make_chat_model(settings: LLMSettings, base_url: str) -> ChatOpenAI:
    """A LangChain chat model for any OpenAI-compatible server (vLLM, llama.cpp, ...)."""
    return ChatOpenAI(
        base_url=base_url,
        api_key=settings.api_key,  # type: ignore[arg-type]
        model=settings.served_name,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,  # type: ignore[call-arg]
        # langchain-openai sends max_completion_tokens, which llama.cpp's server ignores.
        extra_body={"max_tokens": settings.max_tokens},
        timeout=settings.timeout_s,
        max_retries=1,
    )


def _request_params(sampling: Sampling | None, extra_body: dict[str, Any] | None) -> dict[str, Any]:
    """Sampling overrides as chat-model call arguments.

    Beyond the OpenAI API, they go in the request body under both servers' names: llama.cpp
    reads ``max_tokens`` and ``repeat_penalty``, vLLM ``repetition_penalty``.
    """
    params: dict[str, Any] = sampling.overrides() if sampling else {}
    extra: dict[str, Any] = dict(extra_body or {})  # the model's own, which a call would replace
    if "max_tokens" in params:
        extra["max_tokens"] = params["max_tokens"]
    if (penalty := params.pop("repetition_penalty", None)) is not None:
        extra |= {"repeat_penalty": penalty, "repetition_penalty": penalty}
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


class Generator:
    def __init__(
        self,
        chat: BaseChatModel,
        model_name: str,
        settings: GenerationSettings,
        counter: TokenCounter | None = None,
        window: Window | None = None,
    ) -> None:
        """Writes cited answers with ``chat``, within its context window.

        Args:
            chat: the chat model.
            model_name: the name answers report.
            settings: prompt strategy and budgets.
            counter: counts tokens as the model does (default: an estimate).
            window: the model's context window and default answer length.
        """
        self.chat = chat
        self.model_name = model_name
        self.settings = settings
        self.counter = counter or EstimateCounter()
        self.window = window or Window()

    def stream(
        self,
        question: str,
        hits: Sequence[Hit],
        strategy: Strategy,
        sampling: Sampling | None = None,
        history: Sequence[Turn] = (),
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it is generated, then the parsed :class:`Answer`.

        Args:
            question: the question, as the user asked it.
            hits: retrieved chunks, best first; those that fit the budget become sources.
            strategy: prompt strategy.
            sampling: per-request decoding overrides.
            history: earlier turns of the conversation.
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        prompt = self.prompt(question, hits, strategy, sampling, history)
        context = prompt.sources
        if not context:
            yield REFUSAL
            yield self._answer(question, REFUSAL, context, strategy, timings)
            return
        messages = prompt.messages
        timings["prompt"] = time.perf_counter() - start
        parts: list[str] = []
        try:
            for chunk in self.chat.stream(messages, **self._params(sampling)):
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    if not parts:
                        timings["first_token"] = time.perf_counter() - start
                    parts.append(text)
                    yield text
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            where = getattr(self.chat, "openai_api_base", "its URL")
            raise ModelError(f"chat model at {where} unreachable: {exc}") from exc
        except openai.APIStatusError as exc:
            raise ModelError(f"chat model refused the request: {exc.message}") from exc
        timings["generation"] = time.perf_counter() - start - timings["prompt"]
        yield self._answer(question, "".join(parts), context, strategy, timings)

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
            reply = self.chat.invoke(messages, **self._params(sampling))
        if reply.response_metadata.get("finish_reason") == "length":  # cut off: unusable
            return None
        return clean_rewrite(str(reply.content), question)

    def _params(self, sampling: Sampling | None) -> dict[str, Any]:
        return _request_params(sampling, getattr(self.chat, "extra_body", None))

    def answer(
        self, question: str, hits: Sequence[Hit], strategy: Strategy, **kwargs: Any
    ) -> Answer:
        return final_answer(self.stream(question, hits, strategy, **kwargs))

    def _answer(
        self,
        question: str,
        raw: str,
        context: Sequence[Hit],
        strategy: Strategy,
        timings: dict[str, float],
    ) -> Answer:
        parsed = parse_answer(
            raw, context, chain_of_thought=strategy == "chain-of-thought", question=question
        )
        return Answer(
            question=question,
            answer=parsed.answer,
            reasoning=parsed.reasoning,
            grounded=parsed.grounded,
            support=parsed.support,
            unsupported_answer=parsed.unsupported,
            citations=citations_for(parsed.cited, context),
            strategy=strategy,
            model=self.model_name,
            timings=timings,
        )
