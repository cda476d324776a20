"""Embedding and MaxSim on the embedder's device: the batched torch path scores as the numpy
path does, and is the one taken on a GPU. The tests marked `gpu` run the packaged MiniLM on
CUDA and skip where torch sees none."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

from core.settings import EmbeddingSettings
from index import embedders
from index.embedders import FakeEmbedder, SentenceTransformerEmbedder, resolve_precision
from retrieval.maxsim import maxsim_scores
from retrieval.rerankers import MaxSimReranker


def numpy_maxsim(query: np.ndarray, passages: Sequence[np.ndarray]) -> list[float]:
    return [float((query @ p.T).max(axis=1).mean()) if len(p) else 0.0 for p in passages]


def unit_rows(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_batched_maxsim_scores_as_one_passage_at_a_time() -> None:
    rng = np.random.default_rng(0)
    query = unit_rows(rng, 7)
    passages = [unit_rows(rng, n) for n in (1, 30, 0, 12, 5)]  # one empty, lengths differ
    batched = maxsim_scores(torch.from_numpy(query), [torch.from_numpy(p) for p in passages])
    np.testing.assert_allclose(batched, numpy_maxsim(query, passages), atol=1e-6)
    assert batched[2] == 0.0


def test_maxsim_of_an_empty_query_or_empty_passages_is_zero() -> None:
    empty = torch.zeros((0, 16))
    some = torch.from_numpy(unit_rows(np.random.default_rng(1), 3))
    assert maxsim_scores(empty, [some, some]) == [0.0, 0.0]
    assert maxsim_scores(some, [empty, empty]) == [0.0, 0.0]
    assert maxsim_scores(some, []) == []


class DeviceEncoder(FakeEmbedder):
    """The fake embedder as if on a GPU: token vectors come as tensors on its "device"."""

    device = "cuda"

    def __init__(self) -> None:
        super().__init__()
        self.tensor_calls = 0

    def token_tensors(self, texts: Sequence[str]) -> list[torch.Tensor]:
        self.tensor_calls += 1
        return [torch.from_numpy(t) for t in self.token_embeddings(texts)]


def test_an_encoder_on_a_gpu_is_scored_on_it_and_alike() -> None:
    passages = ["zebras live in africa", "penguins live in antarctica", "", "africa is big"]
    on_gpu = DeviceEncoder()
    gpu_scores = MaxSimReranker(on_gpu).score("where do zebras live", passages)
    cpu_scores = MaxSimReranker(FakeEmbedder()).score("where do zebras live", passages)
    assert on_gpu.tensor_calls == 1
    np.testing.assert_allclose(gpu_scores, cpu_scores, atol=1e-6)


def test_auto_precision_on_a_gpu_is_bfloat16_where_native_else_float16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # Turing, Volta
    assert resolve_precision("auto", "cuda:1") == "float16"
    assert resolve_precision("float32", "cuda") == "float32"


class _Model:
    def get_embedding_dimension(self) -> int:
        return 384


@pytest.mark.parametrize(("device", "batch"), [("cpu", 16), ("cuda", 512)])
def test_a_gpu_embeds_in_its_own_larger_batches(
    monkeypatch: pytest.MonkeyPatch, device: str, batch: int
) -> None:
    monkeypatch.setattr(SentenceTransformerEmbedder, "model", _Model())
    monkeypatch.setattr(embedders, "native_bfloat16", lambda device: False)
    embedder = SentenceTransformerEmbedder(EmbeddingSettings(device=device))
    assert (embedder.device, embedder.batch_size) == (device, batch)


# -- the real GPU ---------------------------------------------------------------------------
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def minilm() -> dict[str, Any]:
    """The packaged MiniLM on the GPU (automatic precision) and on the CPU in float32."""
    return {
        "gpu": SentenceTransformerEmbedder(EmbeddingSettings(device="cuda")),
        "cpu": SentenceTransformerEmbedder(EmbeddingSettings(device="cpu", precision="float32")),
    }


TEXTS = [
    "The old harbour was built in 1850 by the town's fishermen.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. " * 8,
    "When was the dam built?",
]


@pytest.mark.gpu
@needs_cuda
def test_real_gpu_embeds_in_half_precision_as_the_cpu_does(minilm: dict[str, Any]) -> None:
    gpu, cpu = minilm["gpu"], minilm["cpu"]
    assert gpu.precision in ("bfloat16", "float16")
    assert gpu.batch_size == 512
    cosines = (gpu.embed(TEXTS) * cpu.embed(TEXTS)).sum(axis=1)
    assert cosines.min() >= 0.99


@pytest.mark.gpu
@needs_cuda
def test_real_gpu_maxsim_scores_as_the_cpu_does(minilm: dict[str, Any]) -> None:
    tensors = minilm["gpu"].token_tensors(TEXTS[:1])
    assert tensors[0].device.type == "cuda"
    on_gpu = MaxSimReranker(minilm["gpu"]).score(TEXTS[2], TEXTS)
    on_cpu = MaxSimReranker(minilm["cpu"]).score(TEXTS[2], TEXTS)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=0.02)
