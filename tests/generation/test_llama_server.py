"""The embedded llama.cpp server's prompt cache keeps to its size, counting every byte."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from generation.llama_server import BoundedRAMCache, one_logits_row, state_bytes  # noqa: E402

VOCAB = 151_936  # Qwen2.5's
KV_PER_TOKEN = 12 * 1024  # llama.cpp's state of Qwen2.5-0.5B, about 12 KiB a token
N_CTX = 4096


def saved_state(tokens: list[int], rows: int = 1) -> llama_cpp.llama.LlamaState:
    """A state as kbqa's server saves it (one row of logits), or as the library's own
    ``save_state`` did, with a row for each token."""
    n = len(tokens)
    input_ids = np.zeros(N_CTX, dtype=np.intc)
    input_ids[:n] = tokens
    return llama_cpp.llama.LlamaState(
        input_ids=input_ids,
        scores=np.zeros((rows, VOCAB), dtype=np.single),
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
    state = saved_state(tokens, rows=len(tokens))
    stock[tokens] = state
    assert stock.cache_size * 20 < state_bytes(state)


class _Model:
    """The parts of ``llama_cpp.Llama`` that saving and loading a state touch."""

    _logits_all = False

    def __init__(self) -> None:
        self.scores = np.zeros((512, VOCAB), dtype=np.single)  # n_batch rows
        self.n_tokens = 300

    @one_logits_row
    def save_state(self) -> np.ndarray:
        return self.scores[: self.n_tokens, :].copy()  # the library's: a copy of _scores

    @one_logits_row
    def load_state(self, saved: np.ndarray) -> None:
        self.scores[: self.n_tokens, :] = saved.copy()  # the library's: a broadcast
        rest = self.scores[self.n_tokens :, :]
        rest[rest > 0] = 0.0


def test_saving_and_loading_a_state_touch_one_row_of_logits() -> None:
    """Without logits_all no row of the logits array is read; the library's save_state copied
    all of them (311 MB for Qwen) and load_state wrote the saved row into n_tokens rows, so the
    array became resident a question at a time."""
    model = _Model()
    full = model.scores
    saved = model.save_state()
    assert saved.shape == (1, VOCAB)
    model.load_state(np.full((1, VOCAB), 2.0, dtype=np.single))
    assert model.scores is full  # put back after the call
    assert (full[0] == 2.0).all()
    assert not full[1:].any()  # no other row written
    model._logits_all = True  # with logits for every token, the library's own behaviour
    assert model.save_state().shape == (300, VOCAB)


def test_the_server_exits_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    # A parent starts a "server" that watches it the way generation.llama_server does, then
    # is killed by a signal, running no cleanup: the orphan must not live on.
    pid_file = tmp_path / "child.pid"
    child = (
        "import os, time; from generation.llama_server import exit_with_parent; "
        f"exit_with_parent(0.05); open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
        "time.sleep(60)"
    )
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            f"subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)",
        ],
        cwd=os.getcwd(),
    )
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    server = int(pid_file.read_text())
    os.kill(server, 0)  # alive while its parent is
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(server, signal.SIGKILL)
    raise AssertionError("the server outlived the process that started it")
