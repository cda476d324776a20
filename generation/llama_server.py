"""The embedded llama.cpp server's entry point: llama-cpp-python's own server, with a prompt
cache whose size limit bounds what it holds.

Run as ``python -m generation.llama_server`` with the arguments of ``python -m
llama_cpp.server``. It runs in the chat server's child process, never in kbqa's.

Why not llama-cpp-python's ``LlamaRAMCache`` as it is: it counts each saved state as its
llama.cpp bytes (``llama_state_size``: the KV cache of the prompt, about 12 KiB a token for
Qwen2.5-0.5B), but every ``LlamaState`` also holds ``scores``, a copy of the logits array for
the state's tokens: tokens x vocabulary x 4 bytes, 240 MB for 400 tokens of Qwen's
151,936-token vocabulary. That copy is 20-40 times the counted bytes, so ``--cache_size``
never bounded the cache: with 256 MiB it grew by about 240 MB a question, past 10 GB after 40
questions. kbqa's server computes no logits for prompt tokens (``--logits_all false``), so
those rows are never written and never read (sampling reads llama.cpp's own logits); a saved
state keeps one row of them, and the cache counts every byte a state holds.

Why saving and loading a state touch one row of logits (:func:`one_logits_row`): the ``Llama``
keeps a logits array of n_batch x vocabulary floats (311 MB for Qwen at n_batch 512) that
nothing writes without ``logits_all``. ``save_state`` copied all of it (a 311 MB allocation per
question) and ``load_state`` wrote the saved row into every row up to the prompt's length, so
the array's pages became resident one question at a time: the server's memory grew by some
10 MB a question until the whole array was resident, 311 MB on top of the cache's bound.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import llama_cpp

from generation.cpu_backend import load_cpu_backend


def state_bytes(state: Any) -> int:
    """All the bytes a saved ``LlamaState`` holds: llama.cpp's state and the two arrays."""
    return int(len(state.llama_state) + state.scores.nbytes + state.input_ids.nbytes)


class BoundedRAMCache(llama_cpp.LlamaRAMCache):  # type: ignore[misc]
    """A RAM prompt cache whose capacity bounds the bytes it holds, least recently used out."""

    @property
    def cache_size(self) -> int:
        return sum(state_bytes(state) for state in self.cache_state.values())


def one_logits_row(method: Callable[..., Any]) -> Callable[..., Any]:
    """``Llama.save_state`` or ``load_state`` reading and writing the first row of the logits
    array only, where no other row is ever used (``logits_all`` off; see the module's
    docstring): the array is swapped for a one-row view of itself for the call."""

    @functools.wraps(method)
    def wrapped(self: Any, *args: Any) -> Any:
        if self._logits_all:
            return method(self, *args)
        full, self.scores = self.scores, self.scores[:1]
        try:
            return method(self, *args)
        finally:
            self.scores = full

    return wrapped


def pop_option(argv: list[str], name: str) -> str | None:
    """Remove ``name VALUE`` from ``argv`` (kbqa's own options, which llama_cpp.server would
    refuse) and return the value."""
    if name not in argv:
        return None
    i = argv.index(name)
    value = argv[i + 1] if i + 1 < len(argv) else None
    del argv[i : i + 2]
    return value


def exit_with_parent(interval_s: float = 1.0) -> threading.Thread:
    """End this process when the process that started it is gone: a kbqa killed by a signal
    runs no ``finally`` to stop its chat server, which held on to the model's gigabytes and
    its port for as long as the machine ran. A thread sees the parent change (the orphan is
    handed to init or a subreaper) and exits as the server would on SIGTERM."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        print("kbqa: the process that started this server is gone; exiting", file=sys.stderr)
        os._exit(0)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def main() -> None:
    exit_with_parent()
    variant = pop_option(sys.argv, "--cpu_variant")
    used = load_cpu_backend(variant)  # before the model loads: see generation.cpu_backend
    print(f"kbqa: llama.cpp CPU backend uses {' '.join(used) or 'its build'}", file=sys.stderr)
    # llama_cpp.server builds its cache as ``llama_cpp.LlamaRAMCache(capacity_bytes=...)`` when
    # the model loads, so the name is where a cache of our own goes in.
    llama_cpp.LlamaRAMCache = BoundedRAMCache  # type: ignore[misc]
    llama_cpp.Llama.save_state = one_logits_row(llama_cpp.Llama.save_state)  # type: ignore[method-assign]
    llama_cpp.Llama.load_state = one_logits_row(llama_cpp.Llama.load_state)  # type: ignore[method-assign]
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
