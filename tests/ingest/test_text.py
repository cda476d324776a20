from __future__ import annotations

import pytest

from ingest.text import clean_text, looks_garbled


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The Normans were\nthe people who", "The Normans were the people who"),
        ("an exam-\nple of it", "an example of it"),
        ("well-\nKnown", "well- Known"),  # a capital after the hyphen: keep both
        ("北京是首都，\n位于北部。", "北京是首都，位于北部。"),
        ("中文\nEnglish", "中文English"),
        ("one\n\n\ntwo", "one\n\ntwo"),
        ("a\u00a0 b\tc", "a b c"),
        ("\ufb01nal", "final"),
        ("问题？答案！", "问题？答案！"),  # full-width punctuation survives (no NFKC)
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("text", "garbled"),
    [
        ("", True),
        ("   \n ", True),
        ("A normal sentence of text.", False),
        ("(cid:12)(cid:34)(cid:56) some", True),
        ("\ue000\ue001\ue002\ue003 ab", True),
        ("正常的中文文本。", False),
    ],
)
def test_looks_garbled(text: str, garbled: bool) -> None:
    assert looks_garbled(text) is garbled
