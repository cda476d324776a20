"""Ingest speed: pages/s of ``KBQA.ingest`` end to end, against embedding alone on the same
chunks (what the pipeline adds) and against the hand-written LangChain pipeline (same PDFs,
same model; beside e5, on MiniLM as well), each PDF in turn through all of them in a rotating
order; then retrieval recall of kbqa's index and the LangChain one (same model) on the
dataset's questions."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.speed.common import Dataset, hits_as_pairs, ratio, recall_and_mrr, rotations
from index.embedders import PACKAGED_MINILM, E5Embedder, resolve_model_path
from ingest.pipeline import Progress
from kbqa.app import KBQA


class StageClock:
    """Seconds per ingest stage of one file, from the pipeline's progress reports."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, progress: Progress) -> None:
        now = time.perf_counter()
        stage = {"parsed": "parse", "chunked": "chunk", "embedded": "embed"}[progress.stage]
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now

    def finish(self) -> None:
        self.seconds["index"] = self.seconds.get("index", 0.0) + time.perf_counter() - self._last


def run_ingest(
    kb: KBQA, dataset: Dataset, *, langchain: bool, recall_questions: int, budget: int
) -> dict[str, Any]:
    """Ingest the dataset into ``kb`` (an empty index) and measure; see the module docstring."""
    kb.embedder.embed(["warm up"])  # model loading is not ingesting; the baseline's neither
    kb.ingestor.check(dataset.pdfs[0].read_bytes(), dataset.pdfs[0].name)  # starts the parser
    baselines = _baselines(kb) if langchain else {}
    baseline = baselines.get("langchain")
    seconds = {"kbqa": 0.0, "embedding_only": 0.0, **dict.fromkeys(baselines, 0.0)}
    stages: dict[str, float] = {}
    pages = chunks = 0
    for round_, pdf in enumerate(dataset.pdfs):
        # The chunks the pipeline will embed, made outside the clock.
        texts = [
            c.text for c in kb.ingestor.chunker.split(kb.ingestor.parse(pdf.read_bytes(), pdf.name))
        ]

        def ours(pdf: Path = pdf) -> None:
            nonlocal pages, chunks
            clock = StageClock()
            start = time.perf_counter()
            doc = kb.ingest(pdf, progress=clock).document
            seconds["kbqa"] += time.perf_counter() - start
            clock.finish()
            for stage, s in clock.seconds.items():
                stages[stage] = stages.get(stage, 0.0) + s
            pages, chunks = pages + doc.pages, chunks + doc.chunks

        def embedding_only(texts: list[str] = texts) -> None:
            start = time.perf_counter()
            kb.embedder.embed(texts)
            seconds["embedding_only"] += time.perf_counter() - start

        def theirs(name: str, pdf: Path = pdf) -> None:
            start = time.perf_counter()
            baselines[name].ingest(pdf)
            seconds[name] += time.perf_counter() - start

        steps: list[Callable[[], None]] = [ours, embedding_only]
        steps += [partial(theirs, name) for name in baselines]
        for step in rotations(steps, round_):
            step()
    start = time.perf_counter()
    kb.index.flush()  # the FAISS file is part of ingesting
    seconds["kbqa"] += time.perf_counter() - start
    result: dict[str, Any] = {
        "pdfs": len(dataset.pdfs),
        "pages": pages,
        "chunks": chunks,
        "embedding": {
            "model": kb.embedder.name,
            "precision": getattr(kb.embedder, "precision", ""),
        },
        "seconds": seconds,
        "kbqa_stage_seconds": stages,
        "pages_per_s": {k: ratio(pages, s) for k, s in seconds.items() if s},
        "pipeline_over_embedding": ratio(seconds["kbqa"], seconds["embedding_only"]),
    }
    for name, pipeline in baselines.items():
        result[f"{name}_chunks"] = pipeline.chunks
        result[f"kbqa_over_{name}_pages_per_s"] = ratio(seconds[name], seconds["kbqa"])
    questions = dataset.questions[:recall_questions]
    if questions:
        result["recall"] = _recall(kb, baseline, questions, budget)
    return result


def _baselines(kb: KBQA) -> dict[str, Any]:
    """The hand-written pipeline on kbqa's embedding model (e5: exported as a Hugging Face
    folder, which its HuggingFaceEmbeddings loads) and, beside e5, on the packaged MiniLM too:
    the yardstick before e5 was the default."""
    from benchmarks.speed.langchain_baseline import LangChainPipeline, export_e5

    if not isinstance(kb.embedder, E5Embedder):
        return {"langchain": LangChainPipeline(resolve_model_path(kb.settings.embedding.model))}
    return {
        "langchain": LangChainPipeline(str(export_e5(kb.embedder, Path("build/bench/e5-hf")))),
        "langchain_minilm": LangChainPipeline(resolve_model_path(PACKAGED_MINILM)),
    }


def _recall(
    kb: KBQA, baseline: Any, questions: list[dict[str, Any]], budget: int
) -> dict[str, dict[str, float]]:
    def kbqa_search(mode: str, rerank: bool) -> Callable[[str], list[tuple[str, str]]]:
        return lambda q: hits_as_pairs(kb.search(q, top_k=10, mode=mode, rerank=rerank).hits)

    recall = {
        "kbqa (default: hybrid + rerank)": recall_and_mrr(
            kbqa_search("hybrid", True), questions, budget
        ),
        "kbqa dense": recall_and_mrr(kbqa_search("dense", False), questions, budget),
    }
    if baseline is not None:
        recall["langchain (dense, 1000/200)"] = recall_and_mrr(baseline.search, questions, budget)
    return recall
