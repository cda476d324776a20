"""Generation speed of the model server: prompt tokens/s and output tokens/s, and the output
rate against its memory-bandwidth bound: a decoder reads all its weights once per token, so
it cannot make more than (memory read bandwidth) / (model bytes) tokens per second. The
bandwidth is measured in the same run, around each generation, with as many threads as the
server uses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from benchmarks.speed.common import median, memory_read_bandwidth, ratio
from benchmarks.speed.query import BareChat
from kbqa.app import KBQA

# A prompt of a few hundred tokens that asks for a long answer, so both rates are measured
# on a real amount of work.
PASSAGE = (
    "The Apollo program was the third United States human spaceflight program carried out by "
    "NASA, which succeeded in preparing and landing the first humans on the Moon from 1968 to "
    "1972. It was first conceived during Dwight D. Eisenhower's administration as a "
    "three-person spacecraft to follow the one-person Project Mercury. "
)
PROMPT = PASSAGE * 6 + "\n\nRetell the text above in your own words, in as much detail as you can."


def prompt_tokens(base_url: str, messages: list[dict[str, str]]) -> int | None:
    """Tokens the server counts for a prompt (llama-cpp-python's tokenize route), if it can."""
    root = base_url.removesuffix("/v1")
    text = "\n".join(m["content"] for m in messages)
    try:
        reply = httpx.post(f"{root}/extras/tokenize/count", json={"input": text}, timeout=30)
        return int(reply.json()["count"]) if reply.is_success else None
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def run_generation(kb: KBQA, rounds: int, max_tokens: int) -> dict[str, Any]:
    chat = BareChat(kb)
    messages = [{"role": "user", "content": PROMPT}]
    n_prompt = prompt_tokens(chat.base_url, messages)
    server = kb.model_server
    section = server.section if server is not None else kb.settings.llm.llama_cpp
    threads = section.threads or os.cpu_count() or 1
    bandwidth: list[float] = []
    prompt_rate: list[float] = []
    output_rate: list[float] = []
    output_tokens: list[int] = []
    for _ in range(rounds):
        bandwidth.append(memory_read_bandwidth(threads))
        chat.forget()
        t = chat.stream(messages, max_tokens)  # type: ignore[arg-type]
        if n_prompt:
            prompt_rate.append(n_prompt / t["first_token"])
        decode_s = t["total"] - t["first_token"]
        output_rate.append((t["tokens"] - 1) / decode_s if decode_s > 0 else float("nan"))
        output_tokens.append(int(t["tokens"]))
    bandwidth.append(memory_read_bandwidth(threads))
    result: dict[str, Any] = {
        "model": chat.model,
        "server": chat.base_url,
        "threads": threads,
        "prompt_tokens": n_prompt,
        "output_tokens": output_tokens,
        "prompt_tokens_per_s": median(prompt_rate),
        "output_tokens_per_s": median(output_rate),
        "memory_read_GB_per_s": max(bandwidth) / 1e9,
    }
    model_file = _model_file(kb)
    if model_file is not None:
        size = model_file.stat().st_size
        bound = max(bandwidth) / size
        result |= {
            "model_bytes": size,
            "bandwidth_bound_tokens_per_s": bound,
            "output_over_bound": ratio(result["output_tokens_per_s"], bound),
        }
    return result


def _model_file(kb: KBQA) -> Path | None:
    """The GGUF file the embedded server runs; None for an external server (unknown size)."""
    server = kb.model_server
    return server.model_file if server is not None else None
