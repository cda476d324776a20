"""Server-Sent Events that stop the model when the client goes away.

A person who presses Stop, or closes the tab, leaves: the answer stream is closed at once,
which ends the model's request (``generation.generator``), so the model server stops writing
words no one reads. Starlette stops sending to a client that left, but leaves the stream it was
sending suspended, the model's request open, until the server shuts down.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from fastapi.sse import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.types import Receive, Scope, Send


class _Closing(EventSourceResponse):
    """An SSE response that closes its stream however the response ends."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()


def event_stream(events: Iterator[bytes], answer: Iterator[object]) -> EventSourceResponse:
    """``events`` as SSE; ``answer``, what they are made of, is closed when the client leaves
    or the events end."""

    async def body() -> AsyncIterator[bytes]:
        try:
            async for event in iterate_in_threadpool(events):
                yield event
        finally:
            await run_in_threadpool(_close, answer)

    return _Closing(body())


def _close(answer: Iterator[object]) -> None:
    close = getattr(answer, "close", None)
    if close is not None:
        with contextlib.suppress(ValueError):  # still running in a thread: it ends on its own
            close()
