"""The service answers for itself: what is loaded, and what is in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models import FakeListChatModel

import kbqa.app
from core.i18n import message
from core.settings import EmbeddingSettings, Settings
from generation.prompts import refusal
from kbqa.app import KBQA
from tests.utils.pdfs import make_text_pdf


@pytest.fixture
def fake_llm(settings: Settings) -> Settings:
    """The test settings with the fake chat model, which quotes the best source sentence."""
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": "fake"})})


def test_readiness_says_what_is_loaded(fake_llm: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with KBQA(fake_llm) as kb:
        before = kb.readiness()
        assert (before.index, before.model, kb.ready) == (False, False, False)
        assert kb.stats(load=False) == {}  # asking does not open the index
        assert kb.readiness().index is False
        scored: list[str] = []
        reranker = kb.retriever.reranker
        assert reranker is not None
        score = reranker.score

        def spy(query: str, passages: list[str]) -> list[float]:
            scored.append(query)
            return score(query, passages)

        monkeypatch.setattr(reranker, "score", spy)
        kb.warm_up()
        assert (kb.readiness().index, kb.readiness().model, kb.ready) == (True, True, True)
        assert scored  # the reranker ran once too: OpenVINO compiles it on its first run


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


def test_an_answer_that_only_says_the_question_again_is_marked_for_the_reader(
    fake_llm: Settings, tmp_path: Path
) -> None:
    """In the browser trial the 1.5B answered "Which city did the Mongol army besiege?" with
    "The Mongol army besieged the city.": cited, supported, and no answer. The reader is told
    so, in the question's language, and pointed at the passage."""
    pages = ["The harbour wall was rebuilt.", "The lighthouse keeper was Ada Hollins."]
    pdf = make_text_pdf(tmp_path / "harbour.pdf", pages, font="core")
    with KBQA(fake_llm) as kb:
        kb.ingest(pdf, "docs")
        echo = kb.ask("Which harbour wall was rebuilt?", collections=["docs"])
        assert echo.answer.startswith("The harbour wall was rebuilt.")  # the fake quotes it
        assert echo.note == message("echo_answer", "en")
        assert echo.citations  # the passage to read is still there
        answer = kb.ask("Who was the lighthouse keeper?", collections=["docs"])
        assert "Ada Hollins" in answer.answer
        assert answer.note is None


def test_a_question_about_documents_in_the_other_language_is_searched_translated(
    fake_llm: Settings, tmp_path: Path
) -> None:
    """A Chinese question about an English document: the multilingual vectors find English
    passages, which share no word with it, so it is searched again as the model translates
    it, and answered from them in their language, so that the model quotes them; a refusal
    is said in the question's. A reply that is no translation (an answer) is not searched
    for."""
    pages = ["The harbour wall was rebuilt in 1850.", "The lighthouse keeper was Ada Hollins."]
    pdf = make_text_pdf(tmp_path / "harbour.pdf", pages, font="core")
    with KBQA(fake_llm) as kb:
        kb.ingest(pdf, "docs")
        kb.embedder.reads_cjk = True  # the fake embedder stands in for e5's multilingual vectors
        replies = ["English: Who was the lighthouse keeper?", "Ada Hollins [1]"]
        kb.generator.chat = FakeListChatModel(responses=replies)
        answer = kb.ask("灯塔看守人是谁？", collections=["docs"])
        assert answer.search_query == "Who was the lighthouse keeper?"
        assert answer.answer.startswith("Ada Hollins")
        assert answer.grounded
        assert answer.citations[0].page == 2
        assert "translate" in answer.timings
        kb.generator.chat = FakeListChatModel(
            responses=["Ada Hollins.", "文档中没有这个问题的答案。"]
        )
        untranslated = kb.ask("灯塔看守人是谁？", collections=["docs"])
        assert untranslated.search_query == "灯塔看守人是谁？"
        assert "translate" not in untranslated.timings
        english = kb.ask("Who was the lighthouse keeper?", collections=["docs"])
        assert "translate" not in english.timings  # English passages: nothing to translate
        replies = ["English: Who was the harbour master?", "The documents do not contain it."]
        kb.generator.chat = FakeListChatModel(responses=replies)
        refused = kb.ask("港务长是谁？", collections=["docs"])
        assert refused.search_query == "Who was the harbour master?"
        assert refused.answer == refusal("zh")  # kbqa speaks the question's language


@pytest.mark.slow
def test_english_is_reranked_by_maxsim_and_chinese_by_vectors_beside_e5(
    settings: Settings, tmp_path: Path
) -> None:
    """e5 on the real models: it embeds both languages; MaxSim reads the packaged
    MiniLM's token vectors for English, and a Chinese question, which MiniLM cannot read, is
    reranked by the stored vectors."""
    real = settings.model_copy(update={"embedding": EmbeddingSettings(backend="e5")})
    assert real.retrieval.reranker == "maxsim"
    path = tmp_path / "mixed.txt"
    path.write_text(
        "The lighthouse keeper was Ada Brook.\f北京是中国的首都。\f上海位于长江入海口。",
        encoding="utf-8",
    )
    with KBQA(real) as kb:
        kb.ingest(path)
        chinese = kb.search("上海位于哪里？", None, 1)
        assert chinese.hits[0].chunk.page_start == 3
        assert "rerank" in chinese.hits[0].scores
        assert any("已改用 vectors 重排序" in note for note in chinese.notes)  # said in Chinese
        english = kb.search("Who kept the lighthouse?", None, 1)
        assert english.hits[0].chunk.page_start == 1
        assert "rerank" in english.hits[0].scores
        assert english.notes == []


def test_a_question_and_a_search_each_give_free_memory_back_once(
    fake_llm: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(kbqa.app, "release_free_memory", lambda: calls.append(1) or True)
    text = tmp_path / "harbour.txt"
    text.write_text("The harbour of Kelby was built in 1850 by the Marsh family.")
    with KBQA(fake_llm) as kb:
        kb.ingest(text)
        kb.search("When was the harbour built?")
        assert len(calls) == 1
        kb.ask("When was the harbour built?")
        assert len(calls) == 2  # the search inside the question does not count twice
