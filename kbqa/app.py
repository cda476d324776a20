"""KBQA: the service object that wires ingest, index, retrieval and generation together.

The CLI, the API and the benchmarks all go through it; it owns the index and the chat server.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from core.errors import ConflictError, InvalidRequestError, TooLongError
from core.i18n import Lang, language_of, message
from core.memory import release_free_memory
from core.records import ApiKey, Feedback, NewApiKey, Rating
from core.settings import Settings, get_settings
from core.text import asked_content
from core.types import (
    MAX_QUESTION_CHARS,
    Answer,
    AnswerItem,
    Citation,
    Conversation,
    ConversationSummary,
    Document,
    Evidence,
    Hit,
    Sampling,
    Stage,
    StagedItem,
    Strategy,
    Turn,
    final_answer,
)
from generation.backends import make_backend
from generation.generator import Generator
from generation.parsing import echoes
from generation.referents import (
    Resolution,
    assumption_note,
    choose,
    readings,
    refers_back,
)
from generation.server import ChatServer
from index.backend import IndexBackend, check_collection_name, open_index
from index.embedders import (
    PACKAGED_MINILM,
    Embedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from index.reembed import Reembedded, reembed
from index.transfer import Moved, export_index, import_index
from ingest.pages import PageRenderer
from ingest.pipeline import Ingestor, IngestResult, ProgressFn
from kbqa.jobs import JobQueue
from kbqa.sources import PageCache, SourceFiles
from retrieval.excerpts import other_script
from retrieval.rerankers import make_reranker
from retrieval.retriever import HybridRetriever, SearchResult, fuse
from state.backend import State, open_state
from state.conversations import ConversationStore, last_turns
from state.keys import make_key
from state.originals import LocalOriginals, Original


@dataclass(frozen=True)
class Readiness:
    """What the service has loaded: the index and the chat model."""

    index: bool
    model: bool
    error: str | None = None  # why the index or the state cannot serve now (a server is away)
    state: bool = True  # conversations, jobs and keys can be read and written

    @property
    def ready(self) -> bool:
        return self.index and self.model and self.state


class KBQA:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._backend = make_backend(self.settings)  # picked by KBQA_LLM__BACKEND
        self._generator: Generator | None = None
        self._generator_lock = threading.Lock()  # one chat server, however many first callers

    # -- components, built on first use ------------------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings.embedding)

    @cached_property
    def index(self) -> IndexBackend:
        """The index ``KBQA_INDEX__BACKEND`` names: local (the default) or Milvus."""
        return open_index(self.settings, self.embedder)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.settings.ingest, self.index, indexed=self._keep_original)

    @cached_property
    def source_files(self) -> SourceFiles:
        """The uploaded files as they came (:mod:`state.originals`) and their pages' images."""
        # A shared state backend keeps them (PostgreSQL), else they are files here.
        originals = self.state.originals or LocalOriginals(self.settings.data_dir / "originals")
        api, ingest = self.settings.api, self.settings.ingest
        pages = self.settings.data_dir / "cache" / "pages"
        cache = PageCache(pages, int(api.page_cache_mb * 2**20))
        renderer = PageRenderer(api.page_timeout_s, ingest.parse_memory_mb, ingest.isolate)
        return SourceFiles(
            originals,
            cache,
            renderer,
            ingest.pdf_password,
            own_originals=self.state.originals is None,
        )

    @cached_property
    def state(self) -> State:
        """Conversations, jobs, keys and feedback: under data_dir, or in the PostgreSQL that
        ``KBQA_STATE__URL`` names and several nodes share."""
        return open_state(self.settings.state, self.settings.data_dir)

    @property
    def conversations(self) -> ConversationStore:
        return self.state.conversations

    @cached_property
    def retriever(self) -> HybridRetriever:
        ranking = self.settings.retrieval
        tokens = None
        if ranking.reranker == "maxsim" and not hasattr(self.embedder, "token_embeddings"):
            # e5 gives no token vectors: MaxSim reads the packaged MiniLM's, English.
            minilm = {"backend": "sentence-transformers", "model": PACKAGED_MINILM}
            tokens = SentenceTransformerEmbedder(self.settings.embedding.model_copy(update=minilm))
        reranker = make_reranker(ranking, self.embedder, tokens)
        cjk = None
        if reranker is not None and not reranker.reads_cjk and self.embedder.reads_cjk:
            cjk = make_reranker(ranking.model_copy(update={"reranker": "vectors"}), self.embedder)
        return HybridRetriever(self.index, ranking, reranker, cjk)

    @property
    def generator(self) -> Generator:
        with self._generator_lock:
            if self._generator is None:
                self._generator = self._backend.generator()
            return self._generator

    def _opened(self, part: str) -> bool:
        """Whether a part (``index``, ``retriever``, ...) is built yet (reading it builds it)."""
        return part in vars(self)  # where functools.cached_property keeps what it built

    def warm_up(self) -> None:
        """Load the index, the embedding model, the reranker and the chat model now rather
        than on the first question (OpenVINO compiles each encoder when it first runs)."""
        self.retriever.index.embedder.embed_query("warm up")
        for reranker in (self.retriever.reranker, self.retriever.cjk_reranker):
            if reranker is not None:
                reranker.score("warm up", ["warm up"])
        _ = self.generator

    def readiness(self) -> Readiness:
        """What is loaded: the index (with its retriever) and the chat model."""
        index = self._opened("index") and self._opened("retriever")
        error = self.index.problem() if index else None
        state_error = self.state.problem()
        return Readiness(
            index=index and error is None,
            model=self.model_ready(),
            error=error or state_error,
            state=state_error is None,
        )

    @property
    def ready(self) -> bool:
        """True when questions can be answered now, without loading anything first."""
        return self.readiness().ready

    def model_ready(self) -> bool:
        """True when answers can be generated now: the chat model is loaded and answering."""
        return self._generator is not None and self._backend.ready()

    @property
    def model_name(self) -> str:
        return self._backend.model_name

    @property
    def model_server(self) -> ChatServer | None:
        """The chat server this service started, if any (the benchmarks measure it)."""
        return self._backend.server

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

    def check_upload(self, data: bytes, filename: str) -> str:
        """Refuse a file that cannot be ingested (size, type, an unreadable PDF) before it is
        queued; returns the filename to store it under."""
        return self.ingestor.check(data, filename)

    def job_queue(self, kept: int = 1000) -> JobQueue:
        """A queue that ingests uploads in the background into this service's index."""
        retries, state = self.settings.index.job_retries_s, self.settings.state
        return JobQueue(
            lambda: self.ingestor,
            self.state.jobs,
            kept,
            retries,
            lease_s=state.job_lease_s,
            poll_s=state.job_poll_s,
        )

    def delete(self, document_id: str, collection: str | None = None) -> Document:
        name = self.collection_or_default(collection)
        document = self.index.delete_document(name, document_id)
        self.source_files.release(document)
        return document

    def delete_collection(self, collection: str) -> list[Document]:
        """Remove a collection with every document in it; returns the documents removed."""
        removed = self.index.delete_collection(self.collection_or_default(collection))
        for document in removed:
            self.source_files.release(document)
        return removed

    def original(
        self, document_id: str, collection: str | None = None
    ) -> tuple[Document, Original, bytes]:
        """A document with its original file's bytes, or NotFoundError saying why not."""
        document = self.document(document_id, collection)
        return document, *self.source_files.original(document)

    def page_image(
        self, document_id: str, page: int, width: int, collection: str | None = None
    ) -> bytes:
        """Page ``page`` of a PDF document as a PNG ``width`` pixels wide."""
        return self.source_files.page_image(self.document(document_id, collection), page, width)

    def _keep_original(self, data: bytes, result: IngestResult) -> None:
        """Every file indexed, whoever asked (upload job or ``kbqa ingest``), is kept."""
        self.source_files.keep(data, result.document)

    def collections(self) -> list[str]:
        return self.index.collections()

    def stats(self, load: bool = True) -> dict[str, tuple[int, int]]:
        """Collection -> (documents, chunks); empty without ``load`` while the index is not
        open yet (a metrics scrape does not open it)."""
        if not load and not self._opened("index"):
            return {}
        return self.index.stats()

    def documents(self, collection: str | None = None) -> list[Document]:
        """The documents of one collection, or of every collection."""
        return self.index.documents(collection)

    def document(self, document_id: str, collection: str | None = None) -> Document:
        return self.index.document(self.collection_or_default(collection), document_id)

    def verify(self) -> list[str]:
        """Problems found in the index (a document half in the store, vectors or BM25)."""
        return self.index.verify()

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> Reembedded:
        """Re-embed the local index's stored chunks with the configured embedder
        (:mod:`index.reembed`); the index is opened afresh afterwards."""
        if self.settings.index.backend != "local":
            raise InvalidRequestError(
                "kbqa reindex re-embeds the local index (KBQA_INDEX__BACKEND=local); for "
                "Milvus, ingest the files again under another KBQA_INDEX__MILVUS_PREFIX"
            )
        if self._opened("index"):
            self.index.close()
            for part in ("index", "ingestor", "retriever"):
                vars(self).pop(part, None)
        return reembed(self.settings.data_dir, self.embedder, progress)

    def export_index(self, path: Path, progress: Callable[[Document], None] | None = None) -> Moved:
        """Write every document with its chunks and vectors to a file (:mod:`index.transfer`)."""
        return export_index(self.index, path, progress)

    def import_index(self, path: Path, progress: Callable[[Document], None] | None = None) -> Moved:
        """Add the documents of an exported file that this index lacks."""
        return import_index(self.index, path, progress)

    # -- conversations ----------------------------------------------------------------------
    def new_conversation(self, title: str = "") -> Conversation:
        return self.conversations.create(title)

    def recent_conversations(self, limit: int = 50) -> list[ConversationSummary]:
        return self.conversations.recent(limit)

    def conversation(self, conversation_id: str) -> Conversation:
        return self.conversations.get(conversation_id)

    def rename_conversation(self, conversation_id: str, title: str) -> ConversationSummary:
        return self.conversations.rename(conversation_id, title)

    def delete_conversation(self, conversation_id: str) -> None:
        self.conversations.delete(conversation_id)

    # -- API keys made at run time, and feedback ---------------------------------------------
    def new_key(self, name: str, write: bool, collections: list[str] | None = None) -> NewApiKey:
        """Make a key valid on every node that shares this state; its secret is returned once.
        Refused while the API is open (no KBQA_API__KEYS): nobody would be asked for it."""
        if not self.settings.api.auth_enabled:
            raise ConflictError(
                "the API is open (KBQA_API__KEYS is not set), so a key made now would never be "
                "asked for: set KBQA_API__KEYS first"
            )
        names = [self.collection_or_default(c) for c in collections] if collections else None
        key = make_key(name, write, names)
        self.state.keys.add(key)
        return key

    def keys(self) -> list[ApiKey]:
        return self.state.keys.list()

    def revoke_key(self, key_id: str) -> ApiKey:
        return self.state.keys.revoke(key_id)

    def api_key(self, key: str) -> ApiKey | None:
        """The record of a key made at run time and not revoked, or None."""
        return self.state.keys.find(key)

    def add_feedback(
        self,
        rating: Rating,
        question: str,
        answer: str,
        citations: Sequence[Citation] = (),
        comment: str = "",
        conversation_id: str | None = None,
    ) -> Feedback:
        if conversation_id is not None:
            self.conversations.get(conversation_id)  # NotFoundError names it
        feedback = Feedback(
            id=uuid.uuid4().hex,
            rating=rating,
            question=_check_question(question),
            answer=answer,
            citations=list(citations),
            comment=comment,
            conversation_id=conversation_id,
        )
        return self.state.feedback.add(feedback)

    def feedback(self, limit: int = 1000) -> list[Feedback]:
        return self.state.feedback.list(limit)

    def search(
        self,
        query: str,
        collections: Sequence[str] | None = None,
        top_k: int | None = None,
        mode: str = "hybrid",
        rerank: bool = True,
    ) -> SearchResult:
        query = _check_question(query, "query")
        names = self.collections_or_default(collections)
        found = self.retriever.search(query, names, top_k=top_k, mode=mode, rerank=rerank)
        release_free_memory()  # what the search allocated (core/memory.py)
        return found

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
        """Yield answer text as it is generated, then the full :class:`Answer` with timings
        (:meth:`ask_stages`, without its stages)."""
        for item in self.ask_stages(
            question, collections, strategy, top_k, sampling, history, conversation_id
        ):
            if not isinstance(item, Stage):
                yield item

    def ask_stages(
        self,
        question: str,
        collections: Sequence[str] | None = None,
        strategy: Strategy | None = None,
        top_k: int | None = None,
        sampling: Sampling | None = None,
        history: Sequence[Turn] = (),
        conversation_id: str | None = None,
    ) -> Iterator[StagedItem]:
        """Yield a :class:`Stage` as each step starts (once the request is checked), answer
        text as it is generated, then the full :class:`Answer` with timings.

        Args:
            question: the question.
            collections: knowledge bases to search together (default: the default one).
            strategy: prompt strategy (default from settings).
            top_k: chunks retrieved.
            sampling: per-request decoding overrides.
            history: earlier turns; a follow-up is searched for as :meth:`search_queries` says,
                and answered with them; a question that stands alone gets none of them
                (:func:`turns_needed`).
            conversation_id: a stored conversation: its turns come before ``history``, and
                the question and answer are added to it.
        """
        strategy = strategy or self.settings.generation.strategy
        question = _check_question(question)
        if conversation_id is not None:
            history = [*last_turns(self.conversations, conversation_id), *history]
        history = turns_needed(question, history)
        lang = language_of(question)
        searching = "stage.searching_conversation" if history else "stage.searching"
        yield Stage(stage="searching", message=message(searching, lang))
        start = time.perf_counter()
        queries, resolution = self._search_queries(question, history, collections)
        rewrite_s = time.perf_counter() - start
        found, evidence = self._retrieve(queries, collections, top_k)
        # A follow-up resolved into one question that stands alone is answered as that
        # question, as if asked first: shown the turns before, a small model copies their
        # answer ("20.8%" again) or answers with the pronoun ("Ozone is a reactive part of it").
        resolved = len(queries) == 1
        asked, shown = (queries[0], ()) if resolved else (question, history)
        translate_start, translate_s = time.perf_counter(), None
        if resolved and (translated := self._translated(queries[0], found.hits)):
            # Searched, gated, excerpted and answered in the documents' language, so that the
            # model quotes them (answering a Chinese question from English passages, the 1.5B
            # translated its answer, which the support check then withheld); what kbqa says
            # (a refusal, a note) stays in the question's.
            translate_s = time.perf_counter() - translate_start
            queries, asked = [translated], translated
            found, evidence = self._retrieve(queries, collections, top_k)
        excerpt_start = time.perf_counter()
        sources = [] if evidence.weak else self.retriever.excerpts(queries[0], found.hits)
        found.timings["excerpt"] = time.perf_counter() - excerpt_start
        retrieval_s = time.perf_counter() - start - rewrite_s
        yield Stage(stage="writing", message=_writing(sources, lang))
        stream = self.generator.stream(
            asked, sources, strategy, sampling, shown, evidence.sure, lang=lang
        )
        for item in stream:
            if isinstance(item, Answer):
                item.question = question
                # The widest query: a follow-up nothing resolved is searched with the question
                # before it (and alone, which that holds), not shown as two queries joined.
                item.search_query = queries[-1]
                item.evidence = round(evidence.score, 4)
                notes = []
                if resolution is not None and resolution.ambiguous:
                    notes.append(assumption_note(resolution.reading.referent, lang))
                if item.grounded and echoes(item.answer, asked):  # no word the question lacks
                    notes.append(message("echo_answer", lang))
                item.note = " ".join(notes) or None
                item.timings = {**found.timings, "retrieval": retrieval_s, **item.timings}
                if history:
                    item.timings["rewrite"] = rewrite_s
                if translate_s is not None:
                    item.timings["translate"] = translate_s
                item.timings["total"] = time.perf_counter() - start
                if conversation_id is not None:
                    self.conversations.append(conversation_id, item)
            yield item
        release_free_memory()  # what the question allocated (core/memory.py)

    def sources(self, query: str, hits: Sequence[Hit]) -> tuple[list[Hit], Evidence]:
        """What the prompt gets: the excerpts of ``hits`` that bear on ``query``, or none when
        the best of them matches it too weakly (:mod:`retrieval.evidence`); with none, the
        question is refused without asking the model."""
        evidence = self.evidence(query, hits)
        return ([] if evidence.weak else self.retriever.excerpts(query, hits)), evidence

    def evidence(self, query: str, hits: Sequence[Hit]) -> Evidence:
        """How closely the best of ``hits`` matches ``query`` (:mod:`retrieval.evidence`): what
        refuses a question before the model is asked."""
        return self.retriever.evidence(query, hits)

    def answer_from(self, question: str, sources: Sequence[Hit], strategy: Strategy) -> Answer:
        """The model's answer to ``question`` from ``sources`` as given (those :meth:`sources`
        chose, say): no search and no conversation, as the evaluation compares strategies."""
        return self.generator.answer(question, sources, strategy)

    def search_queries(
        self,
        question: str,
        history: Sequence[Turn],
        collections: Sequence[str] | None = None,
    ) -> list[str]:
        """What to search for: the question itself, or a follow-up made to stand alone (see
        :meth:`_search_queries`). One query means a question that stands alone; the first
        query is what the excerpts are chosen for."""
        return self._search_queries(question, history, collections)[0]

    def _search_queries(
        self,
        question: str,
        history: Sequence[Turn],
        collections: Sequence[str] | None = None,
    ) -> tuple[list[str], Resolution | None]:
        """The queries of :meth:`search_queries`, and how a follow-up's reference was read.

        A follow-up is read first by the rules of :mod:`generation.referents`: its reference
        taken for each entity named earlier (never a number), the reading the documents bear
        out (:meth:`HybridRetriever.fit`) of the most recently named entity that fits. Failing
        that ("Why?", "And the engineer?", or no passage that names an entity says what is
        asked: "its" points outside the conversation), the chat model's rewrite, when
        rewriting is on; failing both, the follow-up alone and with the question before it
        (:func:`retrieval_query`), whose results are fused.
        """
        if not turns_needed(question, history):
            return [question], None
        if found := readings(question, history):
            scores, margin = self.retriever.fit(
                [r.question for r in found],
                self.collections_or_default(collections),
                [r.referent.text for r in found],
                asked_content(question),
            )
            if max(scores) >= 0:  # below: no passage names any of them with what is asked
                resolution = choose(found, scores, margin)
                return [resolution.reading.question], resolution
        if self.settings.generation.rewrite and (
            rewritten := self.generator.rewrite(question, history)
        ):
            return [rewritten], None
        return list(dict.fromkeys([question, retrieval_query(question, history)])), None

    def _translated(self, query: str, hits: Sequence[Hit]) -> str | None:
        """``query`` in the language of ``hits``, where the best is in the other script
        (:mod:`generation.translate`); None where it is not, or translating is off or
        fails."""
        if not (self.settings.generation.translate and hits):
            return None
        if not other_script(query, hits[0].chunk.text):
            return None
        return self.generator.translate(query, "en" if language_of(query) == "zh" else "zh")

    def _retrieve(
        self, queries: Sequence[str], collections: Sequence[str] | None, top_k: int | None
    ) -> tuple[SearchResult, Evidence]:
        """The hits of one query, or of several fused by RRF; the evidence of the strongest.
        Memory is released once, by the question (:meth:`ask_stages`), not after each search."""
        names = self.collections_or_default(collections)
        queries = [_check_question(q, "query") for q in queries]
        if len(queries) == 1:
            found = self.retriever.search(queries[0], names, top_k=top_k)
            return found, self.retriever.evidence(queries[0], found.hits)
        s = self.settings.retrieval
        k = top_k or s.top_k
        results = [self.retriever.search(q, names, top_k=max(k, s.rerank_k)) for q in queries]
        evidence = max(
            (self.retriever.evidence(q, r.hits[:k]) for q, r in zip(queries, results, strict=True)),
            key=lambda e: e.score,
        )
        return fuse(results, k, s.rrf_k), evidence

    def ask(self, question: str, **kwargs: object) -> Answer:
        return final_answer(self.ask_stream(question, **kwargs))  # type: ignore[arg-type]

    def close(self) -> None:
        if self._opened("ingestor"):
            self.ingestor.close()
        if self._opened("index"):
            self.index.close()
        if self._opened("source_files"):
            self.source_files.close()
        if self._opened("state"):
            self.state.close()
        self._backend.close()

    def __enter__(self) -> KBQA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def turns_needed(question: str, history: Sequence[Turn]) -> Sequence[Turn]:
    """The earlier turns a question needs: all that fit for a follow-up ("and who was its
    engineer?"), none for a question that stands alone, which is searched and answered as if
    it came first (an unrelated question searched with the one before it found neither)."""
    return history if history and refers_back(question) else ()


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """What to search for: a follow-up ("and when did it end?") is searched with the question
    before it, which names what "it" is."""
    earlier = [t.content for t in history if t.role == "user"]
    return f"{earlier[-1]}\n{question}"[-MAX_QUESTION_CHARS:] if earlier else question


def _writing(sources: Sequence[Hit], lang: Lang) -> str:
    """The status line while the model reads ``sources`` and writes, in ``lang``."""
    if not sources:
        return message("stage.no_passage", lang)
    files = len({(hit.collection, hit.chunk.document_id) for hit in sources})
    # English counts in the plural but for one; the catalog has a sentence for each case.
    key = "stage.writing_one" if len(sources) == 1 else "stage.writing"
    key += "_from_one" if files == 1 and len(sources) > 1 else ""
    return message(key, lang, passages=len(sources), documents=files)


def _check_question(text: str, what: str = "question") -> str:
    text = text.strip()
    if not text:
        raise InvalidRequestError.said(f"errors.{what}_empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise TooLongError(what, len(text), MAX_QUESTION_CHARS)
    return text
