from __future__ import annotations

from index.lexical import LexicalIndex, tokenize


def test_english_tokens_drop_stopwords() -> None:
    assert tokenize("What is the Capital of France?") == ["capital", "france"]


def test_cjk_runs_become_bigrams() -> None:
    assert tokenize("北京的首都，好") == ["北京", "京的", "的首", "首都", "好"]
    assert tokenize("Tokyo 東京タワー") == ["tokyo", "東京", "京タ", "タワ", "ワー"]
    assert tokenize("nexon开发与发行") == ["nexon", "开发", "发与", "与发", "发行"]


def test_bm25_ranks_chinese() -> None:
    texts = ["上海位于长江入海口。", "北京是中国的首都。", "广州是南方的城市。"]
    index = LexicalIndex([10, 20, 30], [tokenize(t) for t in texts])
    assert index.search("中国的首都是哪里", 3)[0][0] == 20


def test_empty_index_and_query() -> None:
    assert LexicalIndex([], []).search("anything", 5) == []
    assert LexicalIndex([1], [["word"]]).search("the", 5) == []
