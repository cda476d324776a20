from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from core.errors import IngestError, NotFoundError
from core.i18n import LANGUAGES, catalog, has_message, language_of, message, parse_lang
from core.types import Citation, Guard, GuardEvent, place


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_messages_with_the_same_placeholders() -> None:
    english = catalog("en")
    for lang in LANGUAGES:
        assert catalog(lang).keys() == english.keys(), lang
        for key, text in catalog(lang).items():
            assert _fields(text) == _fields(english[key]), (lang, key)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Where does the Rhine begin?", "en"),
        ("《张居正》获得了第几届茅盾文学奖？", "zh"),
        ("Apollo 1 发生在哪一年？", "zh"),
        ("", "en"),
    ],
)
def test_a_text_is_chinese_when_mostly_chinese(text: str, lang: str) -> None:
    assert language_of(text) == lang


@pytest.mark.parametrize(
    ("header", "lang"),
    [("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-GB", "en"), ("fr-FR,fr", "en"), (None, "en")],
)
def test_a_browser_language_picks_a_catalog(header: str | None, lang: str) -> None:
    assert parse_lang(header) == lang


def test_messages_differ_by_language() -> None:
    assert message("refusal", "en") != message("refusal", "zh")


def test_tables_are_said_by_dotted_keys_and_every_message_is_text() -> None:
    english = catalog("en")
    assert english["ui.index"] == "Index"
    assert all(isinstance(text, str) and text for text in english.values())


def test_a_keyed_error_is_english_as_a_string_and_localized_on_request() -> None:
    error = NotFoundError.said("errors.no_conversation", conversation="'abc'")
    assert str(error) == "no conversation 'abc'"
    assert error.localized("zh") == "没有对话 'abc'"
    plain = NotFoundError("no original 'abc' is kept")
    assert plain.localized("en") == "no original 'abc' is kept"
    assert plain.localized("zh") == "找不到所请求的内容：no original 'abc' is kept"


def test_a_refused_file_keeps_its_english_detail_and_says_its_reason_in_chinese() -> None:
    error = IngestError("a.pdf", "encrypted", "is encrypted and needs a password")
    assert error.localized("en") == "a.pdf: is encrypted and needs a password (encrypted)"
    assert error.localized("zh") == "a.pdf 已加密，需要密码才能打开。"
    odd = IngestError("a.pdf", "strange", "is strange")
    assert odd.localized("zh") == "无法索引该文件：a.pdf: is strange (strange)"


def test_every_reason_a_file_is_refused_for_is_in_the_catalog() -> None:
    """The reasons the parsers give (the second argument of IngestError), read from source."""
    root = Path(__file__).resolve().parents[2]
    said = re.compile(r"IngestError\(\s*[^,]+,\s*\"(\w+)\"", re.S)
    reasons = {
        reason
        for package in ("ingest", "kbqa", "api")
        for path in (root / package).rglob("*.py")
        for reason in said.findall(path.read_text())
    }
    assert {"corrupt", "encrypted", "empty", "needs_ocr", "too_large"} <= reasons
    assert all(has_message(f"ingest.{reason}") for reason in reasons), reasons


def test_places_sources_and_guards_are_said_in_chinese() -> None:
    assert place(3, 4) == "pages 3-4"
    assert place(3, 3, lang="zh") == "第 3 页"
    assert place(1, 1, "Scope", lang="zh") == "“Scope”一节"
    citation = Citation(
        n=1,
        document_id="d",
        collection="c",
        filename="a.pdf",
        page=2,
        page_end=2,
        text="t",
        score=1,
    )
    assert citation.label == "[1] a.pdf, p. 2"
    assert citation.label_in("zh") == "[1] a.pdf，第 2 页"
    guard = Guard(
        action="retried", attempts=2, events=[GuardEvent(reason="repetition", seq_rep_4=0.7)]
    )
    assert guard.summary() == "The model repeated itself (seq-rep-4 0.70): answered on attempt 2."
    assert guard.summary("zh") == "模型出现了重复（seq-rep-4 0.70）：第 2 次尝试得到了回答。"
