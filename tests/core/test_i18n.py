from __future__ import annotations

import string

import pytest

from core.i18n import LANGUAGES, catalog, language_of, message, parse_lang


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
