"""The service answers for itself: what is loaded, and what is in it."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from kbqa.app import KBQA
from tests.utils.pdfs import make_text_pdf


def test_readiness_says_what_is_loaded(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"backend": "fake"})}
    )
    with KBQA(settings) as kb:
        before = kb.readiness()
        assert (before.index, before.model, kb.ready) == (False, False, False)
        assert kb.stats(load=False) == {}  # asking does not open the index
        assert kb.readiness().index is False
        kb.warm_up()
        assert (kb.readiness().index, kb.readiness().model, kb.ready) == (True, True, True)


def test_documents_collections_and_conversations_go_through_it(
    settings: Settings, tmp_path: Path
) -> None:
    pdf = make_text_pdf(tmp_path / "harbour.pdf", ["The harbour was built in 1850."], font="core")
    with KBQA(settings) as kb:
        doc = kb.ingest(pdf, "docs").document
        assert kb.collections() == ["docs"]
        assert kb.document(doc.id, "docs").filename == "harbour.pdf"
        assert [d.id for d in kb.documents()] == [doc.id]
        assert kb.stats() == {"docs": (1, doc.chunks)}
        assert kb.verify() == []
        assert [d.id for d in kb.delete_collection("docs")] == [doc.id]
        assert kb.collections() == []
        conversation = kb.new_conversation("harbour")
        assert [c.id for c in kb.recent_conversations()] == [conversation.id]
        assert kb.conversation(conversation.id).title == "harbour"
        kb.delete_conversation(conversation.id)
        assert kb.recent_conversations() == []
