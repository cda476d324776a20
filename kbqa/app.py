"""KBQA: the service object that wires ingest, index, retrieval and generation together.

The CLI, the API and the benchmarks all go through it; it owns the index and the chat server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

from core.settings import Settings, get_settings
from core.types import Answer, Document, Strategy, final_answer
from generation.generator import Generator, make_chat_model
from generation.server import LocalServer
from index.embedders import Embedder, make_embedder
from index.knowledge import KnowledgeIndex, check_collection_name
from ingest.pipeline import Ingestor, IngestResult, ProgressFn
from retrieval.rerankers import make_reranker
from retrieval.retriever import HybridRetriever, SearchResult


class KBQA:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._server: LocalServer | None = None

    # -- components, built on first use ------------------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings.embedding)

    @cached_property
    def index(self) -> KnowledgeIndex:
        return KnowledgeIndex(self.settings.data_dir, self.embedder)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.settings.ingest, self.index)

    @cached_property
    def retriever(self) -> HybridRetriever:
        encoder = self.embedder if hasattr(self.embedder, "token_embeddings") else None
        reranker = make_reranker(self.settings.retrieval, encoder)  # type: ignore[arg-type]
        return HybridRetriever(self.index, self.settings.retrieval, reranker)

    @cached_property
    def generator(self) -> Generator:
        llm = self.settings.llm
        base_url = llm.base_url
        if base_url is None:  # no external server: run the embedded one
            self._server = LocalServer(
                llm, self.settings.models_dir, self.settings.data_dir / "logs"
            )
            base_url = self._server.start().base_url
        return Generator(make_chat_model(llm, base_url), llm.served_name, self.settings.generation)

    # -- operations ---------------------------------------------------------------------------
    def collections_or_default(self, collections: Sequence[str] | None) -> list[str]:
        return [check_collection_name(c) for c in (collections or [self.settings.collection])]

    def collection_or_default(self, collection: str | None) -> str:
        return check_collection_name(collection or self.settings.collection)

    def ingest(
        self, path: Path, collection: str | None = None, progress: ProgressFn | None = None
    ) -> IngestResult:
        name = self.collection_or_default(collection)
        return self.ingestor.ingest_path(path, name, progress)

    def delete(self, document_id: str, collection: str | None = None) -> Document:
        name = self.collection_or_default(collection)
        return self.index.delete_document(name, document_id)

    def search(
        self,
        query: str,
        collections: Sequence[str] | None = None,
        top_k: int | None = None,
        mode: str = "hybrid",
        rerank: bool = True,
    ) -> SearchResult:
        query = _check_question(query)
        names = self.collections_or_default(collections)
        return self.retriever.search(query, names, top_k=top_k, mode=mode, rerank=rerank)

    def ask_stream(
        self,
        question: str,
        collections: Sequence[str] | None = None,
        strategy: Strategy | None = None,
        top_k: int | None = None,
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is generated, then the full :class:`Answer` with timings."""
        strategy = strategy or self.settings.generation.strategy
        start = time.perf_counter()
        found = self.search(question, collections, top_k=top_k)
        retrieval_s = time.perf_counter() - start
        for item in self.generator.stream(question, found.hits, strategy):
            if isinstance(item, Answer):
                item.timings = {**found.timings, "retrieval": retrieval_s, **item.timings}
                item.timings["total"] = time.perf_counter() - start
            yield item

    def ask(self, question: str, **kwargs: object) -> Answer:
        return final_answer(self.ask_stream(question, **kwargs))  # type: ignore[arg-type]

    def close(self) -> None:
        if "index" in self.__dict__:
            self.index.close()
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> KBQA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


MAX_QUESTION_CHARS = 4000


def _check_question(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError("question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise ValueError(f"question is {len(text)} characters, more than {MAX_QUESTION_CHARS}")
    return text
