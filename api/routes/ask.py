"""POST /ask: a cited answer, as JSON or as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse, format_sse_event

from api.deps import Metrics, Reader, Service
from api.errors import ERROR_RESPONSES, describe, error_body
from api.language import asked_in
from api.metrics import ApiMetrics
from api.schemas import AskRequest, TokenEvent
from api.streaming import event_stream
from core.i18n import DEFAULT_LANG, Lang
from core.types import Answer, Discard, Stage, StagedItem

router = APIRouter(prefix="/ask", tags=["ask"])

STREAM_DOC = {
    "description": "With `stream: true`: events `stage` ({stage, message}) as each step "
    "starts when `stages: true`, `token` ({text}) as the answer is generated, "
    "then one `answer` event (the full Answer: citations, timings), or `error` (ErrorBody). "
    "A `discard` event ({reason, message}) means: drop the text received so far, the model "
    "is asked again (it looped, or wrote a banned word); the `answer` event is authoritative.",
    "content": {"text/event-stream": {}},
}


@router.post("", response_model=Answer, responses={**ERROR_RESPONSES, 200: STREAM_DOC})
def ask(
    body: AskRequest, request: Request, service: Service, metrics: Metrics, caller: Reader
) -> Answer | EventSourceResponse:
    """Answer a question from the documents, citing document and page; notes and errors in the
    question's language."""
    lang = asked_in(request, body.question)
    ask = service.ask_stages if body.stream and body.stages else service.ask_stream
    items: Iterator[StagedItem] = ask(
        body.question,
        collections=caller.allow(service.collections_or_default(body.names())),
        strategy=body.strategy,
        top_k=body.top_k,
        sampling=body.sampling(),
        history=body.history,
        conversation_id=body.conversation_id,
    )
    # Retrieval and the model's first words happen here, so bad input and an unreachable
    # model are plain HTTP errors even when streaming, not events inside a 200 (with stages:
    # bad input only, and the status line moves from the start).
    first = next(items)
    if not body.stream:
        answer = next(i for i in chain([first], items) if isinstance(i, Answer))
        metrics.observe_stages(answer.timings)
        return answer
    return event_stream(sse_events(chain([first], items), metrics, lang), items)


def sse_events(
    items: Iterator[StagedItem], metrics: ApiMetrics, lang: Lang = DEFAULT_LANG
) -> Iterator[bytes]:
    """An answer stream as SSE: ``stage`` events if asked for, ``token`` events (``discard``
    drops them), then ``answer``; ``error`` if it breaks."""
    try:
        for item in items:
            if isinstance(item, Stage):
                yield format_sse_event(event="stage", data_str=item.model_dump_json())
            elif isinstance(item, Answer):
                metrics.observe_stages(item.timings)
                yield format_sse_event(event="answer", data_str=item.model_dump_json())
            elif isinstance(item, Discard):
                yield format_sse_event(event="discard", data_str=item.model_dump_json())
            else:
                yield format_sse_event(
                    event="token", data_str=TokenEvent(text=item).model_dump_json()
                )
    except Exception as exc:  # the status line is sent: the error can only be an event now
        status, code, message, detail = describe(exc, lang)
        body = error_body(status, code, message, detail)
        yield format_sse_event(event="error", data_str=json.dumps(body))
