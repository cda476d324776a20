"""Ask the chat model, through its OpenAI-compatible API, for a cited answer."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import openai
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from core.errors import ModelError
from core.settings import GenerationSettings, LLMSettings
from core.types import Answer, Hit, Strategy, final_answer
from generation.parsing import citations_for, parse_answer
from generation.prompts import REFUSAL, build_messages, select_context


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


class Generator:
    def __init__(self, chat: BaseChatModel, model_name: str, settings: GenerationSettings) -> None:
        self.chat = chat
        self.model_name = model_name
        self.settings = settings

    def stream(
        self, question: str, hits: Sequence[Hit], strategy: Strategy
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it is generated, then the parsed :class:`Answer`."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        context = select_context(hits, self.settings.context_chars)
        if not context:
            yield REFUSAL
            yield self._answer(question, REFUSAL, context, strategy, timings)
            return
        messages = build_messages(strategy, question, context)
        timings["prompt"] = time.perf_counter() - start
        parts: list[str] = []
        try:
            for chunk in self.chat.stream(messages):
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

    def answer(self, question: str, hits: Sequence[Hit], strategy: Strategy) -> Answer:
        return final_answer(self.stream(question, hits, strategy))

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
