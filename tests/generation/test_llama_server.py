"""The embedded llama.cpp server's prompt cache keeps to its size, counting every byte."""

from __future__ import annotations

import numpy as np
import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from generation.llama_server import BoundedRAMCache, state_bytes  # noqa: E402

VOCAB = 151_936  # Qwen2.5's
KV_PER_TOKEN = 12 * 1024  # llama.cpp's state of Qwen2.5-0.5B, about 12 KiB a token
N_CTX = 4096


def saved_state(tokens: list[int]) -> llama_cpp.llama.LlamaState:
    """A state as ``Llama.save_state`` makes it with logits_all off: a full scores copy."""
    n = len(tokens)
    input_ids = np.zeros(N_CTX, dtype=np.intc)
    input_ids[:n] = tokens
    return llama_cpp.llama.LlamaState(
        input_ids=input_ids,
        scores=np.zeros((n, VOCAB), dtype=np.single),
        n_tokens=n,
        llama_state=bytes(KV_PER_TOKEN * n),
        llama_state_size=KV_PER_TOKEN * n,
        seed=0,
    )


def test_the_cache_never_holds_more_than_its_capacity() -> None:
    capacity = 64 * 2**20
    cache = BoundedRAMCache(capacity_bytes=capacity)
    for question in range(40):  # distinct prompts sharing a system prompt, as /ask sends them
        tokens = [1, 2, 3] * 50 + [1000 + question] * 250
        cache[tokens] = saved_state(tokens)
        assert cache.cache_size <= capacity
        held = sum(state_bytes(s) for s in cache.cache_state.values())
        assert held == cache.cache_size
    assert len(cache.cache_state) > 5  # the limit holds many states, not one or none
    newest = [1, 2, 3] * 50 + [1039] * 250
    assert tuple(newest) in cache.cache_state  # least recently used went first


def test_the_stock_cache_undercounts_the_logits_it_holds() -> None:
    """Why the cache is our own: the library's counts llama.cpp's bytes alone."""
    stock = llama_cpp.LlamaRAMCache(capacity_bytes=64 * 2**20)
    tokens = list(range(400))
    state = saved_state(tokens)
    stock[tokens] = state
    assert stock.cache_size * 20 < state_bytes(state)


def test_a_slimmed_state_still_loads() -> None:
    """``Llama.load_state`` copies a state's scores into rows of its own array."""
    cache = BoundedRAMCache(capacity_bytes=2**30)
    tokens = list(range(300))
    cache[tokens] = saved_state(tokens)
    state = cache[tokens + [7, 8]]  # longest prefix
    assert state.scores.shape == (1, VOCAB)
    rows = np.ones((512, VOCAB), dtype=np.single)  # the model's scores, n_batch rows
    rows[: state.n_tokens, :] = state.scores.copy()  # what load_state does: must broadcast
    assert state.n_tokens == 300
