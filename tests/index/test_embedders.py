"""Embedders: batching keeps row order; precision is chosen by what the device computes in."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import EmbeddingSettings
from index.embedders import FakeEmbedder, SentenceTransformerEmbedder, resolve_precision


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
