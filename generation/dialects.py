"""How each OpenAI-compatible server names the sampling controls that OpenAI's API lacks.

Temperature, top-p, max tokens, seed and stop are OpenAI's own fields, the same everywhere.
Top-k, the repetition penalty and banned words are extensions, named per server:

| control | vLLM | llama-cpp-python's server |
|---|---|---|
| top-k (0: off) | ``top_k`` (-1: off) | ``top_k`` (0: off) |
| repetition penalty | ``repetition_penalty`` | ``repeat_penalty`` |
| banned words | ``bad_words`` (its own token-level ban) | ``logit_bias`` {token id: -100} |

Each server ignores the other's names, but vLLM logs a warning for every unknown field, and a
``logit_bias`` keyed by token ids means the wrong tokens on another model's vocabulary; so
each request carries one server's names.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import httpx

from core.registry import Registry
from core.types import Sampling
from generation.banned import spellings

log = logging.getLogger(__name__)
BAN = -100.0  # OpenAI's and llama.cpp's bias that in effect bans a token
# A token of fewer visible characters (a bare space, one letter or digit) is never banned:
# banning it would ban it inside every other word too.
MIN_BANNED_PIECE = 2


class ServerDialect(ABC):
    """One server's request-body fields for top-k, the repetition penalty and banned words."""

    name: ClassVar[str]
    # Whether a retry after a banned word slipped through can ban more than the first try.
    tightens_bans: ClassVar[bool] = False

    @abstractmethod
    def fields(self, sampling: Sampling, strict: bool = False) -> dict[str, Any]:
        """The fields to add to the request body.

        Args:
            sampling: the request's controls.
            strict: ban harder: a banned word got through the first attempt.
        """


class VllmDialect(ServerDialect):
    name = "vllm"

    def fields(self, sampling: Sampling, strict: bool = False) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if sampling.top_k_tokens is not None:
            fields["top_k"] = sampling.top_k_tokens or -1  # -1 is "off" in every vLLM version
        if sampling.repetition_penalty is not None:
            fields["repetition_penalty"] = sampling.repetition_penalty
        if sampling.bad_words:
            # vLLM bans each word's exact tokens, with and without a leading space, but in the
            # case given only.
            fields["bad_words"] = [s for word in sampling.bad_words for s in spellings(word)]
        return fields


class Vocabulary(Protocol):
    def tokenize(self, text: str) -> list[int]: ...

    def piece(self, token: int) -> str: ...


class LlamaCppDialect(ServerDialect):
    """llama-cpp-python's server: banned words become a ``logit_bias`` over the model's tokens.

    Each spelling of a word (as given, lower-case, capitalised, upper-case; with and without a
    leading space) is tokenized by the server. The first try bans the first token of each, which
    stops the usual spelling of the word where it starts and leaves other words alone; a retry
    bans every token of each. Tokens shorter than ``MIN_BANNED_PIECE`` are never banned, so a
    word of digits ("1887" is 1, 8, 8, 7 to Qwen) is left to the text check.
    """

    name = "llama.cpp"
    tightens_bans = True

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary

    def fields(self, sampling: Sampling, strict: bool = False) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if sampling.top_k_tokens is not None:
            fields["top_k"] = sampling.top_k_tokens
        if sampling.repetition_penalty is not None:
            fields["repeat_penalty"] = sampling.repetition_penalty
        if sampling.bad_words and (bias := self.ban_bias(sampling.bad_words, strict)):
            fields["logit_bias"] = bias
        return fields

    def ban_bias(self, words: Sequence[str], every_token: bool) -> dict[str, float]:
        """{token id: -100} for the tokens that spell ``words``; empty without a vocabulary."""
        if self.vocabulary is None:
            return {}
        bias: dict[str, float] = {}
        try:
            for word in words:
                for spelling in spellings(word):
                    for text in (spelling, " " + spelling):
                        ids = self.vocabulary.tokenize(text)
                        for token in ids if every_token else ids[:1]:
                            if len(self.vocabulary.piece(token).strip()) >= MIN_BANNED_PIECE:
                                bias[str(token)] = BAN
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            # The text check still keeps the words out of the answer, at the cost of retries.
            log.warning("could not tokenize banned words on the chat server: %s", exc)
            return {}
        return bias


class LlamaCppVocabulary:
    """Token ids and texts from a llama-cpp-python server (``/extras/tokenize``, ``/detokenize``).

    Results are cached: the same banned words come back request after request.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout_s: float = 10,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = base_url.rstrip("/").removesuffix("/v1")
        headers = {"Authorization": f"Bearer {api_key}"}
        self._http = httpx.Client(
            base_url=root, headers=headers, timeout=timeout_s, transport=transport
        )
        self._ids: dict[str, list[int]] = {}
        self._pieces: dict[int, str] = {}
        self._prefix: list[int] | None = None

    def _tokenize(self, text: str) -> list[int]:
        response = self._http.post("/extras/tokenize", json={"input": text})
        response.raise_for_status()
        return [int(t) for t in response.json()["tokens"]]

    def tokenize(self, text: str) -> list[int]:
        """The token ids of ``text``, without the BOS token some models' servers prepend."""
        if self._prefix is None:
            self._prefix = self._tokenize("")
        if text not in self._ids:
            ids = self._tokenize(text)
            self._ids[text] = (
                ids[len(self._prefix) :] if ids[: len(self._prefix)] == self._prefix else ids
            )
        return self._ids[text]

    def piece(self, token: int) -> str:
        """The text of one token; empty for a token that is part of a UTF-8 character."""
        if token not in self._pieces:
            response = self._http.post("/extras/detokenize", json={"tokens": [token]})
            self._pieces[token] = response.json()["text"] if response.is_success else ""
        return self._pieces[token]


DIALECTS: Registry[type[ServerDialect]] = Registry("server dialect")
for _dialect in (VllmDialect, LlamaCppDialect):
    DIALECTS.add(_dialect.name, _dialect)


def make_dialect(name: str, base_url: str | None = None, api_key: str = "") -> ServerDialect:
    """The dialect called ``name``; llama.cpp's tokenizes through the server at ``base_url``."""
    dialect = DIALECTS.get(name)
    if dialect is LlamaCppDialect:
        return LlamaCppDialect(LlamaCppVocabulary(base_url, api_key) if base_url else None)
    return dialect()
