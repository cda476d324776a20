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
state keeps one row of them (``load_state`` broadcasts it), and the cache counts every byte a
state holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import llama_cpp


def state_bytes(state: Any) -> int:
    """All the bytes a saved ``LlamaState`` holds: llama.cpp's state and the two arrays."""
    return int(len(state.llama_state) + state.scores.nbytes + state.input_ids.nbytes)


class BoundedRAMCache(llama_cpp.LlamaRAMCache):  # type: ignore[misc]
    """A RAM prompt cache whose capacity bounds the bytes it holds, least recently used out."""

    @property
    def cache_size(self) -> int:
        return sum(state_bytes(state) for state in self.cache_state.values())

    def __setitem__(self, key: Sequence[int], value: Any) -> None:
        if len(value.scores) > 1:  # logits nothing reads (see the module's docstring)
            value.scores = value.scores[-1:].copy()
        super().__setitem__(key, value)


def main() -> None:
    # llama_cpp.server builds its cache as ``llama_cpp.LlamaRAMCache(capacity_bytes=...)`` when
    # the model loads, so the name is where a cache of our own goes in.
    llama_cpp.LlamaRAMCache = BoundedRAMCache  # type: ignore[misc]
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
