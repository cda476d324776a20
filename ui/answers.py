"""An answer in the chat: streamed with a status line and a Stop button, then shown with its
sources, each of which opens its page beside the chat."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.types import Answer, Discard, Stage
from ui.client import ApiClient, ApiError
from ui.lang import t, ui_lang
from ui.sources import open_source

ANSWERING = "answering"  # session state: the question being answered and the text so far


def show_answer(answer: Answer, key: int) -> None:
    """An answer with its sources; ``key``: the message's place in the conversation."""
    st.markdown(answer.answer)
    if answer.unsupported_answer:
        with st.expander(t("withheld")):
            st.text(answer.unsupported_answer)
    if answer.reasoning:
        with st.expander(t("reasoning")):
            st.markdown(answer.reasoning)
    for citation in answer.citations:  # each opens its page beside the chat, highlighted
        st.button(
            citation.label_in(ui_lang()),
            key=f"source-{key}-{citation.n}",
            on_click=open_source,
            args=(citation,),
            type="tertiary",
            icon=":material/description:",
            help=t("source_help"),
        )
    if answer.search_query and answer.search_query != answer.question:
        st.caption(t("searched_for", query=" ".join(answer.search_query.split())))
    if answer.note:  # which entity a follow-up was read for, in the question's language
        st.caption(f":material/info: {answer.note}")
    if answer.guard is not None:
        note = st.caption if answer.guard.action == "retried" else st.warning
        note(answer.guard.summary(ui_lang()))
    seconds = answer.timings.get("total")
    made = [answer.model, t(f"strategy_name_{answer.strategy}")]
    made += [t("seconds", seconds=f"{seconds:.1f}")] if seconds is not None else []
    st.caption(" · ".join(made))


def stream_answer(api: ApiClient, body: dict[str, Any], key: int) -> Answer | None:
    """Show the answer as it streams, with a Stop button: pressing it reruns the page, which
    leaves this loop and closes the stream, and the server stops the model."""
    stop, placeholder, text = st.empty(), st.empty(), ""
    stop.button(
        t("stop_answer"), key=f"stop-{key}", on_click=stop_answer, icon=":material/stop_circle:"
    )
    st.session_state[ANSWERING] = {"question": body["question"], "text": ""}
    try:
        for item in api.ask_stream(body):
            if isinstance(item, Answer):
                stop.empty()
                placeholder.empty()
                st.session_state.pop(ANSWERING, None)
                show_answer(item, key)
                return item
            if isinstance(item, Stage):  # a status line until the answer's first words
                placeholder.caption(f":material/hourglass_top: {item.message}")
                continue
            if isinstance(item, Discard):  # the text so far is taken back: the model retries
                text = ""
                placeholder.caption(item.message)
                continue
            text += item
            st.session_state[ANSWERING]["text"] = text
            placeholder.markdown(text + " ▌")
    except ApiError as exc:
        placeholder.empty()
        st.error(str(exc))
    stop.empty()
    st.session_state.pop(ANSWERING, None)
    return None


def stop_answer() -> None:
    """The Stop button's callback: the question and what was written of its answer stay on
    the page, marked stopped (the server keeps no answer it did not finish)."""
    answering = st.session_state.pop(ANSWERING, None)
    conversation = st.session_state.get("conversation")
    if answering is None or conversation is None:
        return
    written = answering["text"].strip() or "…"
    conversation["messages"] += [
        {"role": "user", "content": answering["question"]},
        {"role": "assistant", "content": f"{written}\n\n*{t('stopped')}*"},
    ]
