"""OpenAI-compatible /v1/chat/completions and /v1/models: any OpenAI client can ask kbqa.

The model name picks the knowledge base: ``kbqa`` is the default collection, ``kbqa/<name>``
another one. The last user message is the question, earlier turns its history; the client's
system messages are ignored, since kbqa's own prompt keeps answers to the documents. Citations
come twice: as a "Sources:" footer in the message text, for people, and as ``citations``
fields, for programs.

Generation controls are OpenAI's fields, plus vLLM's ``repetition_penalty`` and ``bad_words``
and kbqa's ``top_k_tokens`` (``top_k`` is the passages retrieved). When the output guard stops
a streamed answer (a loop, a banned word) and asks again, a chunk with an empty delta and
``kbqa.discard`` says that the text so far is to be dropped: OpenAI's format has no way to
take text back, so a plain client shows both; the last chunk's ``kbqa.guard`` tells.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from itertools import chain
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse, format_sse_event
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api.deps import Access, Metrics, Reader, Service
from api.errors import ERROR_RESPONSES, describe, error_body
from api.language import asked_in
from api.metrics import ApiMetrics
from api.streaming import event_stream
from core.errors import InvalidRequestError, NotFoundError
from core.i18n import DEFAULT_LANG, Lang, language_of, message
from core.types import (
    Answer,
    AnswerItem,
    BannedWord,
    Citation,
    Discard,
    Guard,
    Sampling,
    StopSequence,
    Strategy,
    Turn,
)
from kbqa.app import KBQA

router = APIRouter(prefix="/v1", tags=["openai"])
MODEL = "kbqa"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # OpenAI clients send many options (user, logprobs, ...): unknown ones are ignored here.
    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(description="'kbqa' (default collection) or 'kbqa/<collection>'.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    n: Literal[1] = 1
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, gt=0, le=8192)
    max_completion_tokens: int | None = Field(None, gt=0, le=8192)
    seed: int | None = Field(None, ge=-(2**63), lt=2**63)
    stop: StopSequence | Annotated[list[StopSequence], Field(max_length=4)] | None = None
    # vLLM's names for controls OpenAI lacks, so a client written for vLLM works unchanged.
    repetition_penalty: float | None = Field(None, ge=0.5, le=2)
    bad_words: list[BannedWord] | None = Field(None, max_length=32)
    # kbqa's own options, for clients that can send extra fields.
    collections: list[str] | None = Field(None, max_length=16)
    strategy: Strategy | None = None
    top_k: int | None = Field(None, ge=1, le=50, description="Passages retrieved.")
    top_k_tokens: int | None = Field(None, ge=0, le=1000, description="Top-k sampling.")

    def sampling(self) -> Sampling:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return Sampling(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k_tokens=self.top_k_tokens,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            seed=self.seed,
            stop=stop,
            repetition_penalty=self.repetition_penalty,
            bad_words=self.bad_words,
        )

    def conversation(self) -> tuple[str, list[Turn]]:
        """The question (the last message, from the user) and the turns before it."""
        turns = [m for m in self.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
            raise InvalidRequestError("messages must end with a non-empty user message")
        earlier = [Turn(role=m.role, content=m.text()) for m in turns[:-1]]  # type: ignore[arg-type]
        return turns[-1].text(), earlier


class KbqaExtras(BaseModel):
    """kbqa's own account of an answer, beside OpenAI's fields."""

    grounded: bool
    support: float
    reasoning: str | None
    timings: dict[str, float]
    strategy: Strategy
    guard: Guard | None
    search_query: str | None


class KbqaMessage(ChatCompletionMessage):
    citations: list[Citation] = Field(description="The sources the answer cites.")


class KbqaChoice(Choice):
    message: KbqaMessage


class KbqaChatCompletion(ChatCompletion):
    """OpenAI's ``ChatCompletion``, with the citations and kbqa's account of the answer."""

    choices: list[KbqaChoice]  # type: ignore[assignment]  # narrowed: pydantic validates it
    citations: list[Citation]
    kbqa: KbqaExtras


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "kbqa"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


@router.get("/models", responses=ERROR_RESPONSES)
def list_models(service: Service, caller: Reader) -> ModelList:
    """``kbqa`` and ``kbqa/<collection>`` for each collection."""
    names = [MODEL, *(f"{MODEL}/{c}" for c in caller.visible(service.collections()))]
    return ModelList(data=[ModelCard(id=name) for name in names])


STREAM_DOC = {
    "description": "With `stream: true`: OpenAI's `chat.completion.chunk` events, the last one "
    "with `citations` and `kbqa` as in the JSON answer, then `[DONE]`.",
    "content": {"text/event-stream": {}},
}


@router.post(
    "/chat/completions",
    response_model=KbqaChatCompletion,
    response_model_exclude_unset=True,  # OpenAI's optional fields that kbqa has no value for
    responses={**ERROR_RESPONSES, 200: STREAM_DOC},
)
def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    service: Service,
    metrics: Metrics,
    caller: Reader,
) -> KbqaChatCompletion | EventSourceResponse:
    question, history = body.conversation()
    lang = asked_in(request, question)
    items = service.ask_stream(
        question,
        collections=_collections(body, service, caller),
        strategy=body.strategy,
        top_k=body.top_k,
        sampling=body.sampling(),
        history=history,
    )
    first = next(items)  # errors before the first token are HTTP errors, as for /ask
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        stream = _chunks(chain([first], items), completion_id, created, body.model, metrics, lang)
        return event_stream(stream, items)
    answer = next(i for i in chain([first], items) if isinstance(i, Answer))
    metrics.observe_stages(answer.timings)
    citations = [c.model_dump() for c in answer.citations]
    message = {
        "role": "assistant",
        "content": answer.answer + footer(answer),
        "citations": citations,
    }
    # Validated from plain data, so every field kbqa fills counts as set (and is sent).
    return KbqaChatCompletion.model_validate(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "citations": citations,
            "kbqa": _extra(answer),
        }
    )


def _collections(body: ChatCompletionRequest, service: KBQA, caller: Access) -> list[str]:
    if body.model == MODEL:
        return caller.allow(service.collections_or_default(body.collections))
    prefix = f"{MODEL}/"
    if body.model.startswith(prefix):
        name = service.collection_or_default(body.model[len(prefix) :])
        names = [name, *(c for c in body.collections or [] if c != name)]
        return caller.allow(service.collections_or_default(names))
    raise NotFoundError(f"no model {body.model!r}: use {MODEL!r} or '{MODEL}/<collection>'")


def footer(answer: Answer) -> str:
    """What the answer rests on, for people reading the message, in the question's language."""
    lang = language_of(answer.question)
    if answer.citations:
        labels = "\n".join(c.label_in(lang) for c in answer.citations)
        return f"\n\n{message('notes.sources', lang)}\n{labels}"
    if answer.unsupported_answer:
        return f"\n\n({message('notes.unsupported', lang)})"
    return ""


def _extra(answer: Answer) -> dict[str, Any]:
    fields = {"grounded", "support", "reasoning", "timings", "strategy", "guard", "search_query"}
    return answer.model_dump(include=fields)


def _chunks(
    items: Iterator[AnswerItem],
    completion_id: str,
    created: int,
    model: str,
    metrics: ApiMetrics,
    lang: Lang = DEFAULT_LANG,
) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = ChatCompletionChunk.model_validate(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )
        return format_sse_event(data_str=data.model_dump_json(exclude_unset=True))

    yield chunk({"role": "assistant", "content": ""})
    try:
        for item in items:
            if isinstance(item, Answer):
                metrics.observe_stages(item.timings)
                citations = [c.model_dump() for c in item.citations]
                yield chunk(
                    {"content": footer(item)}, "stop", citations=citations, kbqa=_extra(item)
                )
            elif isinstance(item, Discard):  # OpenAI's chunks cannot take text back: say so
                yield chunk({"content": ""}, kbqa={"discard": item.model_dump()})
            else:
                yield chunk({"content": item})
    except Exception as exc:  # headers are sent: report the error in the stream
        yield format_sse_event(data_str=json.dumps(error_body(*describe(exc, lang))))
    yield format_sse_event(data_str="[DONE]")
