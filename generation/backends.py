"""Chat backends, picked by name from settings (``KBQA_LLM__BACKEND``): each one builds the
:class:`Generator` the service answers with, says whether its model is ready, and stops what it
started. ``openai-compatible`` talks to a chat server (one kbqa starts, or one at ``base_url``);
``fake`` quotes the best source, for tests and offline demos."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import httpx

from core.registry import Registry
from core.settings import Settings
from generation.context import Window
from generation.dialects import make_dialect
from generation.generator import Generator, make_chat_model
from generation.server import ChatServer, make_server
from generation.tokens import EstimateCounter, make_token_counter

FAKE_MODEL = "fake-quoting"  # the name the deterministic test model answers under


class ChatBackend(ABC):
    """Builds the service's generator; subclasses implement :meth:`generator`."""

    name: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def model_name(self) -> str:
        return self.settings.llm.served_name

    @abstractmethod
    def generator(self) -> Generator:
        """A new generator; the service calls this once, on first use."""

    def ready(self) -> bool:
        """True when the model answers now (asked once :meth:`generator` has run)."""
        return True

    @property
    def server(self) -> ChatServer | None:
        """The chat server this backend started, if any."""
        return None

    def close(self) -> None:  # noqa: B027 - most backends start nothing
        """Stop what :meth:`generator` started."""


BACKENDS: Registry[type[ChatBackend]] = Registry("chat backend")


def register(cls: type[ChatBackend]) -> type[ChatBackend]:
    """Class decorator: make a backend available under its ``name``; a name is taken once."""
    return BACKENDS.add(cls.name, cls)


def make_backend(settings: Settings) -> ChatBackend:
    """The backend named by ``settings.llm.backend``."""
    return BACKENDS.get(settings.llm.backend)(settings)


@register
class FakeBackend(ChatBackend):
    """The deterministic quoting model: no server, no weights."""

    name = "fake"

    @property
    def model_name(self) -> str:
        return FAKE_MODEL

    def generator(self) -> Generator:
        from generation.fake import QuotingChatModel

        llm = self.settings.llm
        window = Window(llm.context_window, llm.max_tokens)
        return Generator(
            QuotingChatModel(),
            self.model_name,
            self.settings.generation,
            counter=EstimateCounter(),
            window=window,
        )


@register
class OpenAICompatibleBackend(ChatBackend):
    """A chat server with OpenAI's API: the one at ``llm.base_url``, or one kbqa starts
    (llama.cpp on the packaged model, or vLLM)."""

    name = "openai-compatible"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._server: ChatServer | None = None

    @property
    def server(self) -> ChatServer | None:
        return self._server

    def generator(self) -> Generator:
        llm = self.settings.llm
        window = Window(llm.context_window, llm.max_tokens)
        base_url = llm.base_url
        if base_url is None:  # no external server: run our own (llama.cpp or vLLM)
            logs = self.settings.data_dir / "logs"
            self._server = make_server(llm, self.settings.models_dir, logs)
            base_url = self._server.start().base_url
        model_file: Path | None = self._server.model_file if self._server else None
        if model_file is not None:
            counter = make_token_counter(model_path=model_file)  # llama.cpp's GGUF
        else:
            counter = make_token_counter(
                base_url=base_url, model=llm.served_name, api_key=llm.api_key
            )
            if counter.context_window:  # the server's own word beats the setting
                window = Window(counter.context_window, llm.max_tokens)
        return Generator(
            make_chat_model(llm, base_url),
            llm.served_name,
            self.settings.generation,
            make_dialect(llm.wire_dialect, base_url, llm.api_key),
            counter,
            window,
        )

    def ready(self) -> bool:
        if self._server is not None:
            return self._server.alive
        try:  # an external server (vLLM, ...): is it up?
            url = f"{self.settings.llm.base_url}/models"
            key = self.settings.llm.api_key
            return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=2).is_success
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
