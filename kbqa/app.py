"""KBQA: the service object that wires ingest, index, retrieval and generation together.

The CLI, the API and the benchmarks all go through it; it owns the index and the chat server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import httpx

from core.errors import InvalidRequestError
from core.settings import Settings, get_settings
from core.types import Answer, AnswerItem, Document, Sampling, Strategy, Turn, final_answer
from generation.context import Window
from generation.dialects import make_dialect
from generation.generator import Generator, make_chat_model
from generation.server import ChatServer, make_server
from generation.tokens import EstimateCounter, make_token_counter
from index.embedders import Embedder, make_embedder
from index.knowledge import KnowledgeIndex, check_collection_name
from ingest.pipeline import Ingestor, IngestResult, ProgressFn
from kbqa.conversations import ConversationStore
from retrieval.rerankers import make_reranker
from retrieval.retriever import HybridRetriever, SearchResult

MAX_QUESTION_CHARS = 4000
FAKE_MODEL = "fake-quoting"  # the name the deterministic test model answers under


class KBQA:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._server: ChatServer | None = None
        self._generator: Generator | None = None
        self._generator_lock = threading.Lock()  # one chat server, however many first callers

    # -- components, built on first use ------------------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings.embedding)

    @cached_property
    def index(self) -> KnowledgeIndex:
        return KnowledgeIndex(self.settings.data_dir, self.embedder, self.settings.dense)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.settings.ingest, self.index)

    @cached_property
    def conversations(self) -> ConversationStore:
        return ConversationStore(self.settings.data_dir / "conversations.sqlite3")

    @cached_property
    def retriever(self) -> HybridRetriever:
        encoder = self.embedder if hasattr(self.embedder, "token_embeddings") else None
        reranker = make_reranker(self.settings.retrieval, encoder)  # type: ignore[arg-type]
        return HybridRetriever(self.index, self.settings.retrieval, reranker)

    @property
    def generator(self) -> Generator:
        with self._generator_lock:
            if self._generator is None:
                self._generator = self._make_generator()
            return self._generator

    def _make_generator(self) -> Generator:
        llm = self.settings.llm
        window = Window(llm.context_window, llm.max_tokens)
        if llm.backend == "fake":
            from generation.fake import QuotingChatModel

            return Generator(
                QuotingChatModel(),
                self.model_name,
                self.settings.generation,
                counter=EstimateCounter(),
                window=window,
            )
        base_url = llm.base_url
        if base_url is None:  # no external server: run our own (llama.cpp or vLLM)
            logs = self.settings.data_dir / "logs"
            self._server = make_server(llm, self.settings.models_dir, logs)
            base_url = self._server.start().base_url
        if self._server is not None and self._server.model_file is not None:
            counter = make_token_counter(model_path=self._server.model_file)  # llama.cpp's GGUF
        else:
            counter = make_token_counter(
                base_url=base_url, model=llm.served_name, api_key=llm.api_key
            )
            if counter.context_window:  # the server's own word beats the setting
                window = Window(counter.context_window, llm.max_tokens)
        server = llm.server
        if server == "auto":
            server = "vllm" if llm.base_url else "llama.cpp"
        return Generator(
            make_chat_model(llm, base_url),
            llm.served_name,
            self.settings.generation,
            make_dialect(server, base_url, llm.api_key),
            counter,
            window,
        )

    def warm_up(self) -> None:
        """Load the index, the embedding model and the chat model now rather than on first use."""
        self.retriever.index.embedder.embed_query("warm up")
        _ = self.generator

    def model_ready(self) -> bool:
        """True when answers can be generated now: the chat model is loaded and answering."""
        if self._generator is None:
            return False
        if self._server is not None:
            return self._server.alive
        if self.settings.llm.backend == "fake":
            return True
        try:  # an external server (vLLM, ...): is it up?
            url = f"{self.settings.llm.base_url}/models"
            key = self.settings.llm.api_key
            return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=2).is_success
        except httpx.HTTPError:
            return False

    @property
    def model_name(self) -> str:
        return FAKE_MODEL if self.settings.llm.backend == "fake" else self.settings.llm.served_name

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
        sampling: Sampling | None = None,
        history: Sequence[Turn] = (),
        conversation_id: str | None = None,
    ) -> Iterator[AnswerItem]:
        """Yield answer text as it is generated, then the full :class:`Answer` with timings.

        Args:
            question: the question.
            collections: knowledge bases to search together (default: the default one).
            strategy: prompt strategy (default from settings).
            top_k: chunks retrieved.
            sampling: per-request decoding overrides.
            history: earlier turns; a follow-up is searched for as :meth:`search_query` says.
            conversation_id: a stored conversation: its turns come before ``history``, and
                the question and answer are added to it.
        """
        strategy = strategy or self.settings.generation.strategy
        question = _check_question(question)
        if conversation_id is not None:
            history = [*self.conversations.history(conversation_id), *history]
        start = time.perf_counter()
        query = self.search_query(question, history)
        rewrite_s = time.perf_counter() - start
        found = self.search(query, collections, top_k=top_k)
        excerpt_start = time.perf_counter()
        sources = self.retriever.excerpts(query, found.hits)
        found.timings["excerpt"] = time.perf_counter() - excerpt_start
        retrieval_s = time.perf_counter() - start - rewrite_s
        stream = self.generator.stream(question, sources, strategy, sampling, history)
        for item in stream:
            if isinstance(item, Answer):
                item.search_query = query
                item.timings = {**found.timings, "retrieval": retrieval_s, **item.timings}
                if history:
                    item.timings["rewrite"] = rewrite_s
                item.timings["total"] = time.perf_counter() - start
                if conversation_id is not None:
                    self.conversations.append(conversation_id, item)
            yield item

    def search_query(self, question: str, history: Sequence[Turn]) -> str:
        """What to search for: the question itself, or a follow-up rewritten by the chat model
        to stand alone; when rewriting is off or its reply unusable, :func:`retrieval_query`."""
        if not history:
            return question
        if self.settings.generation.rewrite:
            rewritten = self.generator.rewrite(question, history)
            if rewritten:
                return rewritten
        return retrieval_query(question, history)

    def ask(self, question: str, **kwargs: object) -> Answer:
        return final_answer(self.ask_stream(question, **kwargs))  # type: ignore[arg-type]

    def close(self) -> None:
        if "ingestor" in self.__dict__:
            self.ingestor.close()
        if "index" in self.__dict__:
            self.index.close()
        if "conversations" in self.__dict__:
            self.conversations.close()
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> KBQA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """What to search for: a follow-up ("and when did it end?") is searched with the question
    before it, which names what "it" is."""
    earlier = [t.content for t in history if t.role == "user"]
    return f"{earlier[-1]}\n{question}"[-MAX_QUESTION_CHARS:] if earlier else question


def _check_question(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidRequestError("question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise InvalidRequestError(
            f"question is {len(text)} characters, more than {MAX_QUESTION_CHARS}"
        )
    return text
