"""Shared fixtures: every test gets its own data directory and never reaches a model hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import EmbeddingSettings, Settings
from index.backend import IndexBackend
from index.embedders import FakeEmbedder
from index.knowledge import KnowledgeIndex
from index.milvus import MilvusIndex
from ingest.pipeline import Ingestor
from tests.utils.milvus import MilvusServer
from tests.utils.postgres import PostgresServer


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


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    """One `milvus-lite server` process for the session; each test takes collections of its own
    (a fresh ``milvus_prefix``)."""
    server = MilvusServer(tmp_path_factory.mktemp("milvus") / "data").start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "milvus"])
def backend(request: pytest.FixtureRequest, settings: Settings) -> Iterator[IndexBackend]:
    """Each index backend in turn, on the fake embedder: the same tests pass on both."""
    kb: IndexBackend
    if request.param == "local":
        kb = KnowledgeIndex(settings.data_dir, FakeEmbedder())
    else:
        server: MilvusServer = request.getfixturevalue("milvus_server")
        kb = MilvusIndex(server.settings(), FakeEmbedder())
    yield kb
    kb.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session (skipped without its binaries); each test takes
    a database of its own (``postgres_url``)."""
    server = PostgresServer().start()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database."""
    return postgres_server.new_database()
