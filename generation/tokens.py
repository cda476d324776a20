"""Counting tokens as the chat model will, so that a prompt fits its context window.

The model's own tokenizer where one can be had, else a conservative estimate:

- a local GGUF (the packaged model): llama.cpp loads its vocabulary alone (``vocab_only``), in
  well under a second, with none of the weights;
- an external server: vLLM's ``POST /tokenize``, or llama-cpp-python's
  ``POST /extras/tokenize/count`` (``kbqa model-server``);
- anything else: :class:`EstimateCounter`, which counts high on purpose.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from langchain_core.messages import BaseMessage

log = logging.getLogger(__name__)

# What a chat template adds around each message (ChatML, Qwen's: "<|im_start|>role\n...
# <|im_end|>\n", 5 tokens; Llama 3's: 5) and before the reply ("<|im_start|>assistant\n", 3),
# rounded up for templates we have not measured.
MESSAGE_TOKENS = 8
REPLY_TOKENS = 4
CHARS_PER_TOKEN = 3.0  # English runs near 4 characters a token in today's vocabularies
_NOT_ASCII = re.compile(r"[^\x00-\x7f]")


class TokenCounter(ABC):
    """Counts tokens of text; subclasses implement :meth:`_count`, the base caches counts."""

    name: str = "counter"
    # The context window the server reports for itself, when it does (vLLM's max_model_len).
    context_window: int | None = None

    def __init__(self) -> None:
        # Prompts repeat: the system rules, the few-shot examples, earlier turns, sources.
        self._cached = lru_cache(maxsize=4096)(self._count)

    @abstractmethod
    def _count(self, text: str) -> int:
        """Tokens of ``text``, with no special tokens added."""

    def count(self, text: str) -> int:
        return self._cached(text) if text else 0

    def count_messages(self, messages: Sequence[BaseMessage]) -> int:
        """Tokens of a chat prompt: the messages, the template's markers, the reply's opening."""
        return REPLY_TOKENS + sum(self.count(str(m.content)) + MESSAGE_TOKENS for m in messages)


class EstimateCounter(TokenCounter):
    """No tokenizer at hand: a character count that errs high.

    Three ASCII characters a token (English averages about four), and a token for every other
    character (a Chinese character is rarely less than one).
    """

    name = "estimate"

    def _count(self, text: str) -> int:
        wide = len(_NOT_ASCII.findall(text))
        return wide + math.ceil((len(text) - wide) / CHARS_PER_TOKEN)


class LlamaVocabCounter(TokenCounter):
    """The exact count for a GGUF model, from its vocabulary alone (no weights loaded)."""

    name = "gguf-vocab"

    def __init__(self, model_path: Path) -> None:
        super().__init__()
        import llama_cpp

        self._llama = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
        self._lock = threading.Lock()  # requests count from many threads

    def _count(self, text: str) -> int:
        with self._lock:
            return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))


# The tokenize routes of OpenAI-compatible servers: (path, the text's field, extra fields).
TOKENIZE_ROUTES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("/tokenize", "prompt", {"add_special_tokens": False}),  # vLLM
    ("/extras/tokenize/count", "input", {}),  # llama-cpp-python's server
)


class ServerCounter(TokenCounter):
    """The count from the serving model's tokenizer, over HTTP; use :meth:`find`."""

    name = "server"

    def __init__(
        self, client: httpx.Client, path: str, field: str, extra: dict[str, Any], model: str
    ) -> None:
        super().__init__()
        self._client, self._path, self._field = client, path, field
        self._body = {"model": model, **extra}
        self._fallback = EstimateCounter()

    @classmethod
    def find(
        cls,
        base_url: str,
        model: str,
        api_key: str,
        timeout: float = 10,
        transport: httpx.BaseTransport | None = None,
    ) -> ServerCounter | None:
        """A counter on the first tokenize route the server answers, or None."""
        root = base_url.rstrip("/").removesuffix("/v1")
        headers = {"Authorization": f"Bearer {api_key}"}
        client = httpx.Client(base_url=root, headers=headers, timeout=timeout, transport=transport)
        for path, field, extra in TOKENIZE_ROUTES:
            counter = cls(client, path, field, extra, model)
            try:
                reply = counter._post("a probe")
            except (httpx.HTTPError, ValueError):
                continue
            counter.context_window = reply.get("max_model_len")
            log.info("counting tokens with %s%s", root, path)
            return counter
        client.close()
        return None

    def _post(self, text: str) -> dict[str, Any]:
        response = self._client.post(self._path, json={**self._body, self._field: text})
        response.raise_for_status()
        reply: dict[str, Any] = response.json()
        if not isinstance(reply.get("count"), int):
            raise ValueError(f"{self._path} answered without a count: {reply}")
        return reply

    def _count(self, text: str) -> int:
        try:
            return int(self._post(text)["count"])
        except (httpx.HTTPError, ValueError) as exc:  # answering matters more than exactness
            log.warning("token count from the server failed (%s); estimating", exc)
            return self._fallback.count(text)


def make_token_counter(
    *,
    model_path: Path | None = None,
    base_url: str | None = None,
    model: str = "",
    api_key: str = "not-needed",
) -> TokenCounter:
    """The most exact counter available: a local GGUF's vocabulary, the server's tokenizer, or
    the estimate."""
    if model_path is not None:
        try:
            return LlamaVocabCounter(model_path)
        except (ImportError, ValueError, OSError) as exc:
            log.warning("cannot read the vocabulary of %s (%s); estimating tokens", model_path, exc)
    elif base_url is not None:
        counter = ServerCounter.find(base_url, model, api_key)
        if counter is not None:
            return counter
        log.info("%s offers no tokenize route; estimating tokens", base_url)
    return EstimateCounter()
