"""Query latency: ``POST /search`` and ``POST /ask`` through the API (in process), stage by
stage, each against the bare library call it wraps, measured on the same question in turn:

| stage | bare call |
|---|---|
| embed | ``SentenceTransformer.encode([question])`` (e5: ``E5Embedder``, no library wraps it) |
| dense | ``faiss.Index.search`` of that vector |
| bm25 | tantivy's ``Searcher.search`` of the question's terms (top-k, no count) |
| fuse | the SQLite ``SELECT`` of the fused candidates' text |
| rerank | ``SentenceTransformer.encode(..., output_value=None)`` of question and candidates |
| | (the vectors reranker: the ``SELECT`` of the candidates' stored vectors and one product) |
| excerpt (ask) | the same call on the question and the top chunks' sentences |
| generation | an OpenAI-client streaming chat request with the same messages |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import openai
import tantivy
from langchain_core.messages import convert_to_openai_messages

from benchmarks.speed.common import Dataset, percentiles, ratio, rotations
from core.types import Hit
from index.embedders import E5Embedder
from index.knowledge import local_index
from index.lexical import tokenize
from kbqa.app import KBQA
from retrieval.excerpts import sentences_of
from retrieval.fusion import reciprocal_rank_fusion

SEARCH_STAGES = ("embed", "dense", "bm25", "fuse", "rerank")


class BareSearch:
    """The library calls under one hybrid + rerank search of one collection, nothing else."""

    def __init__(self, kb: KBQA, collection: str) -> None:
        kb.search("warm up", [collection])  # loads FAISS and opens the lexical index
        index = local_index(kb.index)
        vectors, lexical = index.engines(collection)
        self.embedder = kb.embedder
        self.model = kb.embedder.model  # type: ignore[attr-defined]
        self.e5 = isinstance(kb.embedder, E5Embedder)  # else a SentenceTransformer
        self.faiss, self.db = vectors.faiss_index, index.store.db
        self.bm25, self.bm25_schema = lexical.engine
        self.s = kb.settings.retrieval
        self.batch_size = kb.embedder.batch_size

    def run(self, question: str) -> dict[str, float]:
        """Seconds per stage; the glue between the calls (tokenizing, RRF) is not counted."""
        t: dict[str, float] = {}
        start = time.perf_counter()
        vector = self._embed_question(question)
        t["embed"] = time.perf_counter() - start
        start = time.perf_counter()
        _, dense = self.faiss.search(np.asarray(vector, dtype=np.float32), self.s.dense_k)
        t["dense"] = time.perf_counter() - start
        terms = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self.bm25_schema, "body", token))
            for token in tokenize(question)
        ]
        start = time.perf_counter()
        hits = self.bm25.search(
            tantivy.Query.boolean_query(terms), limit=self.s.bm25_k, count=False
        ).hits
        values = self.bm25.fast_field_values("id", [address for _, address in hits])
        t["bm25"] = time.perf_counter() - start
        lexical = [int(v or 0) for v in values]
        fused = list(reciprocal_rank_fusion([[int(i) for i in dense[0]], lexical], self.s.rrf_k))
        head = fused[: max(self.s.top_k, self.s.rerank_k)]
        start = time.perf_counter()
        marks = ",".join("?" * len(head))
        rows = self.db.execute(
            f"SELECT c.id, c.text, d.filename FROM chunks c JOIN documents d"  # noqa: S608
            f" ON d.collection = c.collection AND d.id = c.document_id WHERE c.id IN ({marks})",
            head,
        ).fetchall()
        t["fuse"] = time.perf_counter() - start
        texts = {row[0]: row[1] for row in rows}
        start = time.perf_counter()
        self._rerank(question, vector, head[: self.s.rerank_k], texts)
        t["rerank"] = time.perf_counter() - start
        return t

    def _embed_question(self, question: str) -> np.ndarray:
        if self.e5:  # no library wraps e5: its embedder is the tokenizer and the model's call
            return self.embedder.embed_query_batch([question])
        return self.model.encode([question], batch_size=self.batch_size, normalize_embeddings=True)

    def _rerank(
        self, question: str, vector: np.ndarray, head: list[int], texts: dict[int, str]
    ) -> None:
        """MaxSim: token vectors of the question and the candidates; e5's vector reranker: the
        candidates' stored vectors, one SELECT and one product."""
        if self.e5:
            marks = ",".join("?" * len(head))
            sql = f"SELECT embedding FROM chunks WHERE id IN ({marks})"  # noqa: S608
            rows = self.db.execute(sql, head).fetchall()
            stored = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32)
            stored.reshape(len(rows), -1) @ vector[0]
            return
        self.model.encode(
            [question, *(texts[c] for c in head)], output_value=None, batch_size=self.batch_size
        )

    def excerpt(self, question: str, sentences: list[str]) -> float:
        """Seconds of the vectors that score the sentences an answer's prompt keeps."""
        start = time.perf_counter()
        if self.e5:
            self.embedder.embed_query_batch([question])
            self.embedder.embed_batch(sentences)
        else:
            self.model.encode([question, *sentences], output_value=None, batch_size=self.batch_size)
        return time.perf_counter() - start


def run_search(kb: KBQA, client: Any, dataset: Dataset, n: int) -> dict[str, Any]:
    """``n`` questions through POST /search, KBQA.search and the bare calls, in turn."""
    collection = kb.settings.collection
    bare = BareSearch(kb, collection)
    http: list[float] = []
    service: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in SEARCH_STAGES}
    bare_stages: dict[str, list[float]] = {s: [] for s in SEARCH_STAGES}
    bare_sum: list[float] = []
    for round_, question in enumerate(dataset.texts(n)):

        def via_http(q: str = question) -> None:
            start = time.perf_counter()
            response = client.post("/search", json={"query": q})
            http.append(time.perf_counter() - start)
            response.raise_for_status()

        def via_service(q: str = question) -> None:
            start = time.perf_counter()
            found = kb.search(q)
            service.append(time.perf_counter() - start)
            for stage in SEARCH_STAGES:
                stages[stage].append(found.timings.get(stage, 0.0))

        def via_libraries(q: str = question) -> None:
            t = bare.run(q)
            for stage in SEARCH_STAGES:
                bare_stages[stage].append(t[stage])
            bare_sum.append(sum(t.values()))

        for step in rotations([via_http, via_service, via_libraries], round_):
            step()
    return {
        "questions": n,
        "http": percentiles(http),
        "service": percentiles(service),
        "bare_sum": percentiles(bare_sum),
        "stages": {s: percentiles(v) for s, v in stages.items()},
        "bare_stages": {s: percentiles(v) for s, v in bare_stages.items()},
        "http_over_bare_p50": ratio(percentiles(http)["p50_ms"], percentiles(bare_sum)["p50_ms"]),
        "service_over_bare_p50": ratio(
            percentiles(service)["p50_ms"], percentiles(bare_sum)["p50_ms"]
        ),
        "stage_over_bare_p50": {
            s: ratio(percentiles(stages[s])["p50_ms"], percentiles(bare_stages[s])["p50_ms"])
            for s in SEARCH_STAGES
        },
    }


class BareChat:
    """Streaming chat requests straight to the model server with the OpenAI client."""

    def __init__(self, kb: KBQA) -> None:
        chat = kb.generator.chat
        self.base_url = str(getattr(chat, "openai_api_base", kb.settings.llm.base_url))
        self.model = kb.settings.llm.served_name
        self.client = openai.OpenAI(base_url=self.base_url, api_key=kb.settings.llm.api_key)

    def forget(self) -> None:
        """Replace the server's cached prompt, so that the next request is not served from it
        (llama.cpp reuses the longest common prefix of the previous prompt)."""
        self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1
        )

    def stream(self, messages: list[dict[str, Any]], max_tokens: int) -> dict[str, float]:
        """Seconds to the first token and in all, and the tokens streamed."""
        start, first, tokens = time.perf_counter(), None, 0
        chunks: Any = self.client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=max_tokens,
            temperature=0,
            stream=True,
            extra_body={"max_tokens": max_tokens},
        )
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter()
                tokens += 1
        end = time.perf_counter()
        return {"first_token": (first or end) - start, "total": end - start, "tokens": tokens}


def run_ask(kb: KBQA, client: Any, dataset: Dataset, n: int, max_tokens: int) -> dict[str, Any]:
    """``n`` questions through POST /ask and through the bare calls (search stages, then the
    same messages to the model server), in turn, each after the server's prompt cache is
    replaced."""
    bare_search, chat = BareSearch(kb, kb.settings.collection), BareChat(kb)
    strategy = kb.settings.generation.strategy
    http: list[float] = []
    stages: dict[str, list[float]] = {}
    bare_sum: list[float] = []
    bare_chat: list[float] = []
    stage_sum: list[float] = []
    chat.forget()
    for round_, question in enumerate(dataset.texts(n)):
        # The sources the answer will get, made outside the clock: the search's hits cut down
        # to their best sentences, as /ask does.
        found = kb.search(question).hits
        hits = kb.retriever.excerpts(question, found)
        sentences = [found[i].chunk.text[s:e] for i, (s, e) in sentences_of(found)]

        def via_http(q: str = question) -> None:
            chat.forget()
            start = time.perf_counter()
            response = client.post("/ask", json={"question": q, "max_tokens": max_tokens})
            http.append(time.perf_counter() - start)
            response.raise_for_status()
            timings: dict[str, float] = response.json()["timings"]
            for stage, seconds in timings.items():
                stages.setdefault(stage, []).append(seconds)
            stage_sum.append(timings["retrieval"] + timings["prompt"] + timings["generation"])

        def via_libraries(
            q: str = question, hits: list[Hit] = hits, sentences: list[str] = sentences
        ) -> None:
            messages = convert_to_openai_messages(kb.generator.prompt(q, hits, strategy).messages)
            chat.forget()
            searched = sum(bare_search.run(q).values())
            if kb.settings.retrieval.excerpt_sentences and kb.retriever.reranker is not None:
                searched += bare_search.excerpt(q, sentences)
            answered = chat.stream(messages, max_tokens)  # type: ignore[arg-type]
            bare_chat.append(answered["total"])
            bare_sum.append(searched + answered["total"])

        steps: list[Callable[[], None]] = [via_http, via_libraries]
        for step in rotations(steps, round_):
            step()
    return {
        "questions": n,
        "max_tokens": max_tokens,
        "http": percentiles(http),
        "stages": {s: percentiles(v) for s, v in stages.items()},
        "stage_sum": percentiles(stage_sum),
        "bare_chat": percentiles(bare_chat),
        "bare_sum": percentiles(bare_sum),
        "http_over_bare_p50": ratio(percentiles(http)["p50_ms"], percentiles(bare_sum)["p50_ms"]),
        "http_over_stage_sum_p50": ratio(
            percentiles(http)["p50_ms"], percentiles(stage_sum)["p50_ms"]
        ),
    }
