"""Shared fixtures: every test gets its own data directory and never reaches a model hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import EmbeddingSettings, Settings
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from ingest.pipeline import Ingestor


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KBQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KBQA_LLM__BASE_URL", raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on the fake embedder, with small chunks so short test texts split."""
    return Settings(
        data_dir=tmp_path / "data",
        embedding=EmbeddingSettings(backend="fake"),
        # In-process parsing: a child process per test would cost a second each. The isolated
        # parser has its own tests.
        ingest={"chunk_size": 200, "chunk_overlap": 40, "isolate": False},
    )


@pytest.fixture
def index(settings: Settings) -> Iterator[KnowledgeIndex]:
    kb = KnowledgeIndex(settings.data_dir, FakeEmbedder())
    yield kb
    kb.close()


@pytest.fixture
def ingestor(settings: Settings, index: KnowledgeIndex) -> Ingestor:
    return Ingestor(settings.ingest, index)
