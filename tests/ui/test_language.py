"""The UI speaks the browser's language, or the one its switch chose (kept in the URL), and
every word it shows comes from the catalogs."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import streamlit
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from core.i18n import message
from tests.api.conftest import REPORT, pdf
from tests.ui.conftest import APP
from tests.ui.test_app import QUESTION, index
from ui.lang import LANG_PARAM, SWITCH, _css_string

UI = Path(APP).parent
# The parameters of Streamlit's elements that people read.
TEXT_PARAMS = {"body", "label", "placeholder", "help", "caption", "text", "page_title"}
ALLOWED = {"kbqa"}  # the product's name, the same in every language
ICON = re.compile(r":material/\w+:")


def _said_literally(node: ast.expr) -> list[str]:
    """The literal text in an argument: its string constants and the fixed parts of its
    f-strings, not what calls (t(...), str(exc)) make, nor icons."""
    found: list[str] = []
    todo = [node]
    while todo:
        here = todo.pop()
        if isinstance(here, (ast.Call, ast.Subscript)):  # made, or looked up: not literal
            continue
        if isinstance(here, ast.Constant) and isinstance(here.value, str):
            text = ICON.sub("", here.value)
            if any(c.isalpha() for c in text) and text.strip() not in ALLOWED:
                found.append(here.value)
        todo.extend(ast.iter_child_nodes(here))
    return found


def _element(name: str) -> inspect.Signature | None:
    """The signature of Streamlit's element ``name`` (st.button, a column's .caption, ...)."""
    made = getattr(DeltaGenerator, name, None) or getattr(streamlit, name, None)
    if not callable(made) or name.startswith("_"):
        return None
    try:
        return inspect.signature(made)
    except (TypeError, ValueError):
        return None


def literal_texts(source: str) -> tuple[list[str], int]:
    """(the literal texts given to Streamlit's elements, how many text arguments were read)."""
    literal, checked = [], 0
    for call in ast.walk(ast.parse(source)):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
            continue
        signature = _element(call.func.attr)
        if signature is None:
            continue
        params = [p for p in signature.parameters if p != "self"]
        given = list(zip(params, call.args, strict=False))
        given += [(k.arg, k.value) for k in call.keywords if k.arg]
        for param, value in given:
            if param in TEXT_PARAMS:
                checked += 1
                literal += _said_literally(value)
    return literal, checked


def test_the_scan_finds_literal_text_and_lets_catalog_text_through() -> None:
    planted = """
st.sidebar.button("Index", type="primary")
placeholder.caption(f"Searched for: {query}")
st.progress(0.5, text=f"{name}: queued")
st.button(t("index"), icon=":material/add:")
st.caption(f":material/hourglass_top: {item.message}")
st.set_page_config(page_title="kbqa")
"""
    literal, checked = literal_texts(planted)
    assert literal == ["Index", "Searched for: ", ": queued"]
    assert checked == 6


def test_no_text_in_the_ui_is_a_literal_outside_the_catalog() -> None:
    literal, checked = {}, 0
    for path in sorted(UI.glob("*.py")):
        found, read = literal_texts(path.read_text())
        checked += read
        if found:
            literal[path.name] = found
    assert literal == {}
    assert checked >= 60  # the scan read the UI's labels, captions and messages


def test_catalog_text_goes_into_the_uploaders_style_as_one_css_string() -> None:
    quoted = _css_string('每个 5 MB："PDF"\\</style>')
    assert quoted == '"每个 5 MB\\ff1a \\22 PDF\\22 \\5c \\3c \\2f style\\3e "'
    assert quoted.count('"') == 2
    assert "<" not in quoted


def _shown(at: AppTest) -> list[str]:
    """What the page says outside the chat's messages: labels, captions, notes, placeholders;
    not the data it shows (the question as a conversation's title, the model's name)."""
    labelled = ("button", "expander", "selectbox", "multiselect", "text_input", "radio", "slider")
    texts = [e.label for kind in (*labelled, "number_input") for e in at.get(kind)]
    valued = ("caption", "success", "info", "warning", "error", "title")
    texts += [e.value for kind in valued for e in at.get(kind)]
    texts += [e.placeholder for e in at.chat_input]
    model = at.chat_message[1].caption[-1].value.split(" · ")[0]
    return [text.replace(model, "") for text in texts if text and text != QUESTION]


def _english_words(texts: list[str]) -> set[str]:
    """Words of three Latin letters or more that are not names (files, the product, models)."""
    allowed = {"kbqa", "report", "pdf", "default", "fake", "Top", "seq", "rep"}
    words = {w for text in texts for w in re.findall(r"[A-Za-z]{3,}", text)}
    return words - allowed


def test_a_chinese_browser_gets_the_ui_in_chinese(ui: AppTest) -> None:
    ui.context["locale"] = "zh-CN"
    ui.run()
    assert not ui.exception
    assert ui.caption[0].value == message("ui.tagline", "zh")
    assert ui.sidebar.selectbox(key="collection").label == "知识库"
    assert ui.sidebar.radio(key=SWITCH).value == "zh"
    assert ui.chat_input[0].placeholder == "就您的文档提问（最多 4,000 个字符）"
    ui.file_uploader[0].set_value([("report.pdf", pdf(REPORT), "application/pdf")]).run()
    next(b for b in ui.sidebar.button if b.label == "建立索引").click().run()
    assert [s.value for s in ui.sidebar.success] == ["report.pdf：共 3 页，已索引 3 个段落。"]
    ui.chat_input[0].set_value(QUESTION).run()
    assert not ui.exception
    assistant = ui.chat_message[1]
    assert [b.label for b in assistant.button] == ["[1] report.pdf，第 2 页"]
    assistant.button[0].click().run()
    assert "关闭" in [b.label for b in ui.button]
    shown = _shown(ui)
    assert len(shown) >= 25  # sidebar, settings, documents, the answer, the source viewer
    assert _english_words(shown) == set()


def test_the_switch_overrides_the_browser_and_the_url_keeps_it(ui: AppTest) -> None:
    ui.context["locale"] = "en-GB"
    ui.run()
    assert ui.sidebar.selectbox(key="collection").label == "Collection"
    index(ui, [("report.pdf", pdf(REPORT), "application/pdf")])
    ui.chat_input[0].set_value(QUESTION).run()
    ui.sidebar.radio(key=SWITCH).set_value("zh").run()
    assert not ui.exception
    assert ui.query_params[LANG_PARAM] in ("zh", ["zh"])
    assert ui.sidebar.selectbox(key="collection").label == "知识库"
    assert [b.label for b in ui.chat_message[1].button] == ["[1] report.pdf，第 2 页"]
    next(b for b in ui.button if b.label == "新对话").click().run()  # the URL loses c, not lang
    assert ui.query_params[LANG_PARAM] in ("zh", ["zh"])
    assert ui.sidebar.selectbox(key="collection").label == "知识库"
    # A reload is a new session with only the URL, in an English browser: still Chinese.
    again = AppTest.from_file(APP, default_timeout=30)
    again.context["locale"] = "en-GB"
    again.query_params[LANG_PARAM] = "zh"
    again.run()
    assert again.caption[0].value == message("ui.tagline", "zh")
    again.sidebar.radio(key=SWITCH).set_value("en").run()
    assert again.caption[0].value == message("ui.tagline", "en")


@pytest.mark.parametrize(("locale", "lang"), [(None, "en"), ("fr-FR", "en"), ("zh-TW", "zh")])
def test_a_browser_language_kbqa_lacks_falls_back_to_english(
    ui: AppTest, locale: str | None, lang: str
) -> None:
    ui.context["locale"] = locale
    ui.run()
    assert ui.sidebar.radio(key=SWITCH).value == lang
    assert ui.caption[0].value == message("ui.tagline", lang)
