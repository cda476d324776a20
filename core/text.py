"""Character classes shared by ingest (line joining, chunk sizes) and the index (tokenising)."""

from __future__ import annotations

import re

# CJK ideographs, kana, hangul and the CJK / full-width punctuation blocks.
CJK_CLASS = (
    r"\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
CJK_RE = re.compile(f"[{CJK_CLASS}]")


def is_cjk(char: str) -> bool:
    return bool(char) and CJK_RE.match(char) is not None


def cjk_ratio(text: str) -> float:
    """Share of non-space characters that are CJK."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(1 for c in chars if is_cjk(c)) / len(chars)
