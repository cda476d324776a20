"""Fixtures shared by the evaluation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import get_settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`kbqa eval` run in-process with the fake embedder and chat model, parsing in-process."""
    monkeypatch.setenv("KBQA_EMBEDDING__BACKEND", "fake")
    monkeypatch.setenv("KBQA_LLM__BACKEND", "fake")
    monkeypatch.setenv("KBQA_INGEST__ISOLATE", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
