"""Keeping order from the UI: past conversations, deletes that ask first, the question limit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from core.types import MAX_QUESTION_CHARS
from tests.api.conftest import ORCHARD, REPORT, pdf
from tests.ui.test_app import QUESTION, index
from ui import answers
from ui.answers import ANSWERING
from ui.manage import NEW_COLLECTION


def _button(at: AppTest, label: str):  # noqa: ANN202 - an AppTest Button
    return next(b for b in at.button if b.label == label)


def test_past_conversations_open_rename_and_delete(ui: AppTest) -> None:
    ui.run()
    index(ui, [("report.pdf", pdf(REPORT), "application/pdf")])
    ui.chat_input[0].set_value(QUESTION).run()
    first = ui.query_params["c"]
    _button(ui, "New conversation").click().run()
    ui.chat_input[0].set_value("When was the Elmstead reservoir completed?").run()
    second = ui.query_params["c"]
    assert first != second
    _button(ui, QUESTION).click().run()  # the first one, by its title
    assert ui.query_params["c"] in (first, [first])
    assert ui.chat_message[0].markdown[0].value == QUESTION
    ui.text_input(key=f"title-{first}").input("The engineer").run()
    assert not ui.exception
    assert "The engineer" in [b.label for b in ui.sidebar.button]
    _button(ui, "Delete conversation").click().run()
    assert "Delete this conversation" in ui.sidebar.warning[0].value
    _button(ui, "Yes, delete").click().run()
    assert not ui.exception
    assert "The engineer" not in [b.label for b in ui.sidebar.button]
    assert "c" not in ui.query_params


def test_a_document_and_a_collection_are_deleted_only_when_confirmed(ui: AppTest) -> None:
    ui.run()
    ui.sidebar.selectbox(key="collection").set_value(NEW_COLLECTION).run()
    ui.sidebar.text_input[0].input("farm").run()
    index(ui, [("orchard.pdf", pdf(ORCHARD), "application/pdf")])
    ui.sidebar.selectbox(key="collection").set_value("farm").run()
    ui.selectbox[0].set_value(ui.selectbox[0].options[0]).run()  # Delete a document: orchard
    _button(ui, "Delete orchard.pdf").click().run()
    assert "with its passages and its original file" in ui.warning[0].value
    _button(ui, "Cancel").click().run()
    assert ui.dataframe[0].value["document"].tolist() == ["orchard.pdf"]
    _button(ui, "Delete the collection 'farm'").click().run()
    assert "'farm' and its 1 documents" in ui.warning[0].value
    _button(ui, "Yes, delete").click().run()
    assert not ui.exception
    assert ui.sidebar.selectbox(key="collection").value == "default"
    assert "farm" not in ui.sidebar.selectbox(key="collection").options


def test_naming_a_new_collection_keeps_what_answers_come_from(ui: AppTest) -> None:
    ui.run()
    index(ui, [("report.pdf", pdf(REPORT), "application/pdf")])
    assert ui.sidebar.multiselect[0].value == ["default"]
    ui.sidebar.selectbox(key="collection").set_value(NEW_COLLECTION).run()
    ui.sidebar.text_input[0].input("water").run()
    assert ui.sidebar.multiselect[0].value == ["default"]
    ui.chat_input[0].set_value(QUESTION).run()
    assert "Margaret Quill" in ui.chat_message[1].markdown[0].value


def test_the_question_limit_is_stated_at_the_input(ui: AppTest) -> None:
    ui.run()
    index(ui, [("report.pdf", pdf(REPORT), "application/pdf")])
    box = ui.chat_input[0]
    assert f"at most {MAX_QUESTION_CHARS:,} characters" in box.placeholder
    assert box.proto.max_chars == MAX_QUESTION_CHARS


def test_the_stop_button_goes_once_the_answer_is_in(ui: AppTest) -> None:
    ui.run()
    index(ui, [("report.pdf", pdf(REPORT), "application/pdf")])
    ui.chat_input[0].set_value(QUESTION).run()
    assert "Margaret Quill" in ui.chat_message[1].markdown[0].value
    assert "Stop" not in [b.label for b in ui.button]
    assert "answering" not in ui.session_state


def test_a_stopped_answer_stays_on_the_page_marked_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What Stop's callback does at the start of the rerun it causes."""
    state: dict = {
        "conversation": {"id": None, "messages": []},
        ANSWERING: {"question": "Who built it?", "text": "The engineer"},
    }
    monkeypatch.setattr(answers, "st", SimpleNamespace(session_state=state))
    answers.stop_answer()
    assert state["conversation"]["messages"] == [
        {"role": "user", "content": "Who built it?"},
        {"role": "assistant", "content": "The engineer\n\n*Stopped.*"},
    ]
    assert ANSWERING not in state
