from __future__ import annotations

import json

import httpx
from langchain_core.messages import HumanMessage, SystemMessage

from generation.tokens import (
    MESSAGE_TOKENS,
    REPLY_TOKENS,
    EstimateCounter,
    ServerCounter,
    TokenCounter,
    make_token_counter,
)


def test_the_estimate_errs_high() -> None:
    counter = EstimateCounter()
    assert counter.count("") == 0
    assert counter.count("a" * 30) == 10  # three ASCII characters a token
    assert counter.count("水库建于一八八七年") == 9  # a token for each CJK character
    # Qwen2.5's tokenizer, for reference: 11 tokens; the estimate must not count fewer.
    assert counter.count("Hello world, this is a test of the tokenizer.") >= 11


def test_a_prompt_counts_its_messages_and_the_templates_markers() -> None:
    counter = EstimateCounter()
    messages = [SystemMessage("a" * 30), HumanMessage("b" * 9)]
    assert counter.count_messages(messages) == 10 + 3 + 2 * MESSAGE_TOKENS + REPLY_TOKENS


def test_counts_are_cached() -> None:
    class Counting(TokenCounter):
        calls = 0

        def _count(self, text: str) -> int:
            Counting.calls += 1
            return len(text.split())

    counter = Counting()
    assert counter.count("two words") == counter.count("two words") == 2
    assert Counting.calls == 1


def _server(routes: dict[str, dict]) -> httpx.MockTransport:
    """A fake tokenize server: path -> reply; one token per word of the text."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path not in routes:
            return httpx.Response(404, json={"detail": "Not Found"})
        body = json.loads(request.content)
        text = body.get("prompt", body.get("input", ""))
        return httpx.Response(200, json={"count": len(text.split()), **routes[request.url.path]})

    return httpx.MockTransport(handle)


def test_a_vllm_server_counts_and_reports_its_window() -> None:
    transport = _server({"/tokenize": {"max_model_len": 8192}})
    counter = ServerCounter.find("http://gpu:8000/v1", "qwen", "k", transport=transport)
    assert counter is not None
    assert counter.count("three short words") == 3
    assert counter.context_window == 8192


def test_a_llama_cpp_server_counts_through_its_extras_route() -> None:
    transport = _server({"/extras/tokenize/count": {}})
    counter = ServerCounter.find("http://127.0.0.1:8080/v1", "qwen", "k", transport=transport)
    assert counter is not None
    assert counter.count("three short words") == 3
    assert counter.context_window is None


def test_a_server_without_a_tokenize_route_is_not_used() -> None:
    assert ServerCounter.find("http://x/v1", "m", "k", transport=_server({})) is None
    # make_token_counter then estimates (the unreachable URL fails fast: connection refused)
    assert isinstance(make_token_counter(base_url="http://127.0.0.1:9/v1"), EstimateCounter)


def test_a_count_that_fails_later_is_estimated_rather_than_failing_the_answer() -> None:
    up = {"value": True}

    def handle(request: httpx.Request) -> httpx.Response:
        if not up["value"]:
            raise httpx.ConnectError("gone")
        return httpx.Response(200, json={"count": 1})

    counter = ServerCounter.find("http://x/v1", "m", "k", transport=httpx.MockTransport(handle))
    assert counter is not None
    up["value"] = False
    assert counter.count("a" * 30) == EstimateCounter().count("a" * 30)


def test_a_model_file_that_cannot_be_read_is_estimated(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"not gguf")
    assert isinstance(make_token_counter(model_path=bad), EstimateCounter)
