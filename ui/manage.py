"""Keeping things in order from the sidebar: past conversations (open, rename, delete), and
deletes that ask first."""

from __future__ import annotations

import streamlit as st

from core.types import TITLE_CHARS
from ui.client import ApiClient
from ui.lang import t
from ui.sources import close_source

CONVERSATION_PARAM = "c"  # the URL's query parameter: the open conversation's id
# The collection selectbox's choice to make one: no collection can have this name.
NEW_COLLECTION = "*new*"


def confirmed(label: str, question: str, key: str) -> bool:
    """A delete button that asks ``question`` first; True once the person said yes."""
    asking = f"confirm-{key}"
    if not st.session_state.get(asking):
        st.button(label, key=key, on_click=_set, args=(asking, True), icon=":material/delete:")
        return False
    st.warning(question)
    yes, no = st.columns(2)
    no.button(t("cancel"), key=f"{key}-no", on_click=_set, args=(asking, False))
    if yes.button(t("yes_delete"), key=f"{key}-yes", type="primary"):
        st.session_state[asking] = False
        return True
    return False


def _set(key: str, value: object) -> None:
    st.session_state[key] = value


def open_conversation(conversation_id: str | None) -> None:
    """Show another conversation (None: a new one); a button's callback. The URL's other
    parameters (the language) stay."""
    if conversation_id is None:
        st.query_params.pop(CONVERSATION_PARAM, None)
    else:
        st.query_params[CONVERSATION_PARAM] = conversation_id
    st.session_state.pop("conversation", None)
    close_source()


def conversations_panel(api: ApiClient) -> None:
    """The sidebar's conversations: a new one, the recent ones, and this one's title."""
    st.sidebar.button(
        t("new_conversation"),
        icon=":material/add_comment:",
        on_click=open_conversation,
        args=(None,),
    )
    current = st.query_params.get(CONVERSATION_PARAM)
    recent = api.conversations()
    if not recent:
        return
    with st.sidebar.expander(t("conversations"), expanded=True):
        for summary in recent:
            st.button(
                summary.title or t("untitled"),
                key=f"conversation-{summary.id}",
                on_click=open_conversation,
                args=(summary.id,),
                type="primary" if summary.id == current else "tertiary",
                width="stretch",
            )
        this = next((c for c in recent if c.id == current), None)
        if this is not None:
            _manage(api, this.id, this.title)


def _manage(api: ApiClient, conversation_id: str, title: str) -> None:
    """Rename or delete the open conversation."""
    st.divider()
    name = st.text_input(
        t("conversation_title"),
        value=title,
        max_chars=TITLE_CHARS,
        key=f"title-{conversation_id}",
    )
    if name.strip() and name.strip() != title:
        api.rename_conversation(conversation_id, name.strip())
        st.rerun()
    question = t("delete_conversation_question")
    if confirmed(t("delete_conversation"), question, key=f"delete-{conversation_id}"):
        api.delete_conversation(conversation_id)
        open_conversation(None)
        st.rerun()
