"""A fake OpenAI-compatible chat server on ``httpx.MockTransport``, for what goes over the wire.

It records the JSON body of every chat completion request, streams scripted replies word by
word as Server-Sent Events, and answers llama-cpp-python's ``/extras/tokenize`` and
``/extras/detokenize`` from a small made-up vocabulary.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx

BASE_URL = "http://chat.test/v1"


class FakeChatServer:
    """Replies with ``replies`` in turn (the last one again when they run out).

    Attributes:
        bodies: the JSON body of each chat completion request, in order.
        chunks_sent: how many reply chunks each request's stream has handed out: a client
            that stops reading early leaves it short.
    """

    def __init__(
        self,
        *replies: str,
        tokens: dict[str, list[int]] | None = None,
        pieces: dict[int, str] | None = None,
    ) -> None:
        self.replies = list(replies) or ["The dam was built in 1887 [1]."]
        self.tokens = tokens or {}  # text -> token ids; other texts: one id per character
        self.pieces = pieces or {}  # token id -> its text
        self.bodies: list[dict[str, Any]] = []
        self.chunks_sent: list[int] = []
        self.transport = httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content or b"{}")
        if path.endswith("/chat/completions"):
            return self._complete(body)
        if path == "/extras/tokenize":
            return httpx.Response(200, json={"tokens": self._tokenize(body["input"])})
        if path == "/extras/detokenize":
            text = "".join(self.pieces.get(t) or chr(t - 1000) for t in body["tokens"])
            return httpx.Response(200, json={"text": text})
        return httpx.Response(404, json={"error": {"message": f"no route {path}"}})

    def _tokenize(self, text: str) -> list[int]:
        return self.tokens.get(text, [1000 + ord(c) for c in text])

    def _complete(self, body: dict[str, Any]) -> httpx.Response:
        self.bodies.append(body)
        reply = self.replies[min(len(self.bodies), len(self.replies)) - 1]
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return httpx.Response(200, json={**_envelope("chat.completion"), "choices": [choice]})
        self.chunks_sent.append(0)
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, content=self._events(reply))

    def _events(self, reply: str) -> Iterator[bytes]:
        for piece in re.findall(r"\S+\s*", reply):
            self.chunks_sent[-1] += 1
            yield _event({"role": "assistant", "content": piece})
        yield _event({}, finish="stop")
        yield b"data: [DONE]\n\n"


def _envelope(kind: str) -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": kind, "created": 0, "model": "fake"}


def _event(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    data = {**_envelope("chat.completion.chunk"), "choices": [choice]}
    return f"data: {json.dumps(data)}\n\n".encode()
