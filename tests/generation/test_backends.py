"""Chat backends are picked by name from settings, through a registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from generation.backends import (
    BACKENDS,
    FAKE_MODEL,
    ChatBackend,
    FakeBackend,
    OpenAICompatibleBackend,
    make_backend,
    register,
)
from generation.generator import Generator


def test_the_backend_is_picked_by_name(tmp_path: Path) -> None:
    fake = make_backend(Settings(data_dir=tmp_path, llm={"backend": "fake"}))
    assert type(fake) is FakeBackend
    assert fake.model_name == FAKE_MODEL
    assert isinstance(fake.generator(), Generator)
    assert fake.ready()
    real = make_backend(Settings(data_dir=tmp_path, llm={"model": "m"}))
    assert type(real) is OpenAICompatibleBackend
    assert real.model_name == "m"
    assert real.server is None  # nothing started before the generator is asked for


def test_a_name_is_registered_once() -> None:
    class Another(ChatBackend):
        name = "fake"

        def generator(self) -> Generator:
            raise NotImplementedError

    with pytest.raises(ValueError, match="a chat backend named 'fake' is registered already"):
        register(Another)
    assert BACKENDS["fake"] is FakeBackend


def test_an_external_server_that_is_down_is_not_ready(tmp_path: Path) -> None:
    llm = {"base_url": "http://127.0.0.1:9/v1"}  # the discard port: nothing answers
    assert not make_backend(Settings(data_dir=tmp_path, llm=llm)).ready()
