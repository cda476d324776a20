"""What kbqa says to people, in the language they use: one catalog per language.

The catalogs are ``core/locales/<lang>.toml``, one ``key = "text"`` per message, with
``{name}`` placeholders, grouped in tables: ``[ui]`` holds ``upload = "..."``, said as
``message("ui.upload")``. Every language holds the same keys with the same placeholders
(tests/core/test_i18n.py checks it), so a message added to one is added to all.

An answer, and every note the API adds to it, speaks the question's language
(:func:`language_of`); an API error without a question speaks the request's Accept-Language
(:func:`parse_lang`); the web UI speaks the browser's, with a switch.

Adding a language: a ``<lang>.toml`` beside the others, holding every key, and its code in
:data:`Lang`.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from core.text import cjk_ratio

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = get_args(Lang)
DEFAULT_LANG: Lang = "en"
LOCALES_DIR = Path(__file__).parent / "locales"
# A text with this share of CJK characters is Chinese: a question like "Apollo 1是哪一年？"
# mixes a name in Latin letters into Chinese.
CJK_TEXT_RATIO = 0.3


def language_of(text: str) -> Lang:
    """``zh`` for a text that is mostly Chinese, else ``en``."""
    return "zh" if cjk_ratio(text) >= CJK_TEXT_RATIO else "en"


def parse_lang(value: str | None) -> Lang:
    """A language tag (``zh-CN``, ``zh``, ``en-GB``, an Accept-Language header) as a
    catalog's language; anything else is the default."""
    for tag in (value or "").replace(" ", "").split(","):
        base = tag.split(";")[0].split("-")[0].split("_")[0].lower()
        if base in LANGUAGES:
            return base  # type: ignore[return-value]
    return DEFAULT_LANG


@cache
def catalog(lang: Lang) -> dict[str, str]:
    """Every message of one language, by its dotted key (``ui.upload``)."""
    with (LOCALES_DIR / f"{lang}.toml").open("rb") as f:
        return _flat(tomllib.load(f))


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


def has_message(key: str) -> bool:
    """Whether the catalogs hold ``key`` (for keys made from a code, such as an error's)."""
    return key in catalog(DEFAULT_LANG)


def message(key: str, lang: Lang = DEFAULT_LANG, **values: object) -> str:
    """The message ``key`` in ``lang``, its placeholders filled from ``values``."""
    return catalog(lang)[key].format(**values)


def messages(key: str) -> list[str]:
    """The message ``key`` in every language (to recognise it, whichever was said)."""
    return [catalog(lang)[key] for lang in LANGUAGES]
