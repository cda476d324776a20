"""OpenVINO runs the encoders on a CPU: the same vectors as torch, from any thread, and torch
still there where OpenVINO cannot compile a model."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch

from core.settings import EmbeddingSettings
from index.embedders import E5Embedder, SentenceTransformerEmbedder, resolve_runtime
from index.openvino_encoder import available, compile_or_none

pytestmark = pytest.mark.skipif(not available(), reason="OpenVINO is not installed")

TEXTS = [
    "When did the Apollo program end?",
    "The Apollo program ended in 1972, after six crewed landings on the Moon. " * 4,
    "阿波罗计划是哪一年结束的？",
    "阿波罗计划于1972年结束，共有六次载人登月。",
    "x",
]


@pytest.fixture(scope="module")
def minilm() -> dict[str, SentenceTransformerEmbedder]:
    return {
        runtime: SentenceTransformerEmbedder(EmbeddingSettings(device="cpu", runtime=runtime))
        for runtime in ("openvino", "torch")
    }


def test_auto_is_openvino_on_a_cpu_and_torch_on_a_gpu() -> None:
    assert resolve_runtime("auto", "cpu") == "openvino"
    assert resolve_runtime("auto", "cuda:0") == "torch"
    assert resolve_runtime("torch", "cpu") == "torch"


def test_minilm_token_vectors_are_torchs(minilm: dict[str, SentenceTransformerEmbedder]) -> None:
    """MaxSim's token vectors: one per token of each text, each within cosine 0.999."""
    compiled, eager = minilm["openvino"], minilm["torch"]
    assert compiled.encoder is not None
    assert eager.encoder is None
    ours, theirs = compiled.token_embeddings(TEXTS), eager.token_embeddings(TEXTS)
    assert [len(t) for t in ours] == [len(t) for t in theirs]
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
        assert (mine * reference).sum(axis=1).min() >= 0.999


def test_e5_vectors_are_torchs() -> None:
    compiled = E5Embedder(EmbeddingSettings(backend="e5", device="cpu", runtime="openvino"))
    eager = E5Embedder(EmbeddingSettings(backend="e5", device="cpu", runtime="torch"))
    assert compiled.encoder is not None
    assert eager.encoder is None
    for embed in ("embed", "embed_queries"):
        ours, theirs = getattr(compiled, embed)(TEXTS), getattr(eager, embed)(TEXTS)
        assert ours.shape == theirs.shape == (len(TEXTS), 384)
        assert (ours * theirs).sum(axis=1).min() >= 0.999


def test_searches_on_several_threads_get_the_vectors_one_thread_gets(
    minilm: dict[str, SentenceTransformerEmbedder],
) -> None:
    """Each call makes its own infer request: threads never read each other's outputs."""
    compiled = minilm["openvino"]
    alone = [compiled.token_embeddings([t])[0] for t in TEXTS]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: compiled.token_embeddings([t])[0], TEXTS * 4))
    for i, vectors_of in enumerate(together):
        np.testing.assert_allclose(vectors_of, alone[i % len(TEXTS)], atol=1e-5)


def test_a_model_openvino_cannot_convert_is_left_to_torch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Unconvertible(torch.nn.Module):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            raise RuntimeError("no such layer")

    with caplog.at_level(logging.WARNING):
        assert compile_or_none(Unconvertible(), "auto", None, "a new model") is None
    # Logged: openvino's failed conversion leaves the root logger at ERROR unless put back.
    assert "a new model" in caplog.text
    assert "torch runs it" in caplog.text
