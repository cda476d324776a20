"""Token counts from the packaged model's own vocabulary, and the estimate that errs high."""

from __future__ import annotations

from pathlib import Path

import pytest

from generation.assets import PACKAGED_MODELS, ensure_model
from generation.tokens import EstimateCounter, LlamaVocabCounter, make_token_counter

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEXTS = [
    Path(__file__).resolve().parents[2].joinpath("README.md").read_text()[:6000],
    "The Elmstead reservoir was completed in 1887. Its dam is 41 metres high.",
    "Elmstead水库于1887年建成，大坝高41米，总工程师是玛格丽特·奎尔。",
]


@pytest.fixture(scope="module")
def counter(tmp_path_factory: pytest.TempPathFactory) -> LlamaVocabCounter:
    pytest.importorskip("llama_cpp")
    model = ensure_model(PACKAGED_MODELS["qwen2.5-coder-0.5b"], tmp_path_factory.mktemp("models"))
    made = make_token_counter(model_path=model)
    assert isinstance(made, LlamaVocabCounter)
    return made


def test_the_gguf_vocabulary_counts_as_qwen_does(counter: LlamaVocabCounter) -> None:
    assert counter.count("Hello world, this is a test of the tokenizer.") == 11
    assert counter.count("你好，世界。这是一个测试") == 6


@pytest.mark.parametrize("text", TEXTS, ids=["readme", "english", "chinese"])
def test_the_estimate_never_counts_fewer_than_the_model(
    counter: LlamaVocabCounter, text: str
) -> None:
    assert EstimateCounter().count(text) >= counter.count(text)
