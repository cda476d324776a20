from __future__ import annotations

from index.lexical import LexicalIndex, tokenize


def test_english_tokens_drop_stopwords() -> None:
    assert tokenize("What is the Capital of France?") == ["capital", "france"]


def test_chinese_is_cut_into_words() -> None:
    tokens = tokenize("北京是中华人民共和国的首都")
    assert "北京" in tokens
    assert "首都" in tokens
    assert "中华人民共和国" in tokens or "中华" in tokens


def test_bm25_ranks_chinese() -> None:
    texts = ["上海位于长江入海口。", "北京是中国的首都。", "广州是南方的城市。"]
    index = LexicalIndex([10, 20, 30], [tokenize(t) for t in texts])
    assert index.search("中国的首都是哪里", 3)[0][0] == 20


def test_empty_index_and_query() -> None:
    assert LexicalIndex([], []).search("anything", 5) == []
    assert LexicalIndex([1], [["word"]]).search("the", 5) == []
