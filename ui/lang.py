"""The UI's language: the browser's, unless the sidebar's switch chose another, which the URL
keeps (``?lang=zh``) so that a reload keeps it too. Every word the UI shows comes from the
catalogs (core/locales), through :func:`t`; what the API writes (answers, their status lines,
its errors) is in the question's language, or in the UI's for requests without a question
(the client sends it as Accept-Language)."""

from __future__ import annotations

import streamlit as st

from core.i18n import DEFAULT_LANG, LANGUAGES, Lang, message, parse_lang

LANG_PARAM = "lang"  # the URL's query parameter
SWITCH = "language"  # the switch's key in session state
_LANG = "ui_lang"  # session state: the language of this run
STREAMLIT_LANG: Lang = "en"  # what Streamlit's own widgets say, whatever the page's language


def choose_language() -> Lang:
    """This run's language, from the URL or else the browser; first thing in a run."""
    chosen = st.query_params.get(LANG_PARAM)
    lang = chosen if chosen in LANGUAGES else parse_lang(st.context.locale)
    st.session_state[_LANG] = lang
    return lang  # type: ignore[return-value]


def ui_lang() -> Lang:
    """The language this run speaks (:func:`choose_language`)."""
    return st.session_state.get(_LANG, DEFAULT_LANG)  # type: ignore[no-any-return]


def t(key: str, **values: object) -> str:
    """The UI's message ``key`` (``ui.<key>`` in the catalogs) in this run's language."""
    return message(f"ui.{key}", ui_lang(), **values)


def language_switch() -> None:
    """English / 中文 in the sidebar: the choice goes into the URL, where the next run (and a
    reload) reads it."""
    st.session_state[SWITCH] = ui_lang()  # the switch shows what the URL or browser chose
    st.sidebar.radio(
        t("language"),
        LANGUAGES,
        format_func=_name,
        horizontal=True,
        key=SWITCH,
        on_change=_switch,
    )


def _name(lang: Lang) -> str:
    """A language by its own name: whoever cannot read this page still finds theirs."""
    return message("language_name", lang)


def _switch() -> None:
    st.query_params[LANG_PARAM] = st.session_state[SWITCH]


def streamlit_words() -> None:
    """The words Streamlit's own widgets write, in the UI's language where that is not English.

    Streamlit has no locale setting: its uploader ("Drag and drop files here", "Upload",
    "200MB per file"), a text box's "Press Enter to apply" and an empty list's "No results"
    are English in its JavaScript. So a style hides them (font size 0) and shows the
    catalog's words in their place (``::after``), at the size they had. The uploader's limit
    line is replaced in English too: it names the kinds of file kbqa reads, which Streamlit
    does not know (the uploader takes any file; the API refuses the others). It targets the
    DOM of streamlit 1.67, two of its places by the class names its build gives them: check
    it when upgrading (tests/e2e/test_ui_browser.py reads what a browser shows).
    """
    size = st.get_option("server.maxUploadSize")
    dropzone = '[data-testid="stFileUploaderDropzone"]'
    enter = '[data-testid="{}"] [data-testid="InputInstructions"] > span:first-child'
    small, smaller = "0.875rem", "0.75rem"  # fontSizes sm and twoSm of streamlit's theme
    # where streamlit writes them -> what to say there, at the size it had
    words = {  # the limit line in every language: Streamlit does not know what kbqa reads
        '[data-testid="stFileUploaderDropzoneInstructions"] span': (
            t("upload_limit", size=size, types=t("document_types")),
            small,
        ),
    }
    if ui_lang() != STREAMLIT_LANG:
        words |= {
            f"{dropzone} > div:not([data-testid]) > span": (t("upload_drop"), small),  # dragged
            f'{dropzone} button [data-testid="stMarkdownContainer"] p': (t("upload_button"), small),
            # A one-line box (and a number's) says it; a text area says "Ctrl+Enter": none here.
            f"{enter.format('stTextInput')}, {enter.format('stNumberInput')}": (
                t("press_enter"),
                smaller,
            ),
            # What a selectbox's and a multiselect's list says when typing matched nothing.
            ".equpb2c9, .eo2qvtu11": (t("no_results"), small),
        }
    rules = [
        f"{where} {{ font-size: 0; white-space: normal }}"
        f" {_after(where)} {{ content: {_css_string(text)}; font-size: {font} }}"
        for where, (text, font) in words.items()
    ]
    style = f"<style>{' '.join(rules)}</style>"
    st.html(style)  # style alone: Streamlit puts it where it takes no room


def _after(selectors: str) -> str:
    """``::after`` of each of a comma-separated list of selectors."""
    return ", ".join(f"{one.strip()}::after" for one in selectors.split(","))


def _css_string(text: str) -> str:
    """``text`` as a CSS string, every character but letters, digits and spaces escaped: no
    quote, backslash or ``</style>`` gets through."""
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text) + '"'
