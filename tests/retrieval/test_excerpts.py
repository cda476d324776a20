from __future__ import annotations

from collections.abc import Sequence

from core.text import sentence_spans
from core.types import Chunk, Hit
from retrieval.excerpts import GAP, beyond_heading, excerpt, overlap_scores
from retrieval.rerankers import Reranker


def _hit(
    text: str,
    char_start: int = 100,
    page: int = 3,
    filename: str = "a.pdf",
    heading: str | None = None,
) -> Hit:
    chunk = Chunk(
        heading=heading,
        document_id=filename,
        ordinal=0,
        text=text,
        page_start=page,
        page_end=page,
        char_start=char_start,
        char_end=char_start + len(text),
    )
    return Hit(chunk=chunk, collection="c", filename=filename, score=1.0)


def test_sentences_split_at_latin_and_cjk_ends_and_at_line_breaks() -> None:
    text = "The dam was built in 1887. It holds water!\nA list item\n水坝建于1887年。它很大？"
    pieces = [text[s:e] for s, e in sentence_spans(text)]
    assert pieces == [
        "The dam was built in 1887.",
        "It holds water!",
        "A list item",
        "水坝建于1887年。",
        "它很大？",
    ]


def test_text_without_a_sentence_end_is_one_sentence() -> None:
    assert sentence_spans("  no full stop here  ") == [(2, 19)]


def test_keeps_the_best_sentences_in_chunk_order_with_a_gap_mark_and_their_offsets() -> None:
    text = "Rain fell all week. The dam was built in 1887. Cows graze. The dam holds water."
    [cut] = excerpt("When was the dam built?", [_hit(text)], 2, reranker=None)
    assert cut.chunk.text == f"The dam was built in 1887. {GAP} The dam holds water."
    start = text.index("The dam was built")
    assert cut.chunk.char_start == 100 + start
    assert cut.chunk.char_end == 100 + len(text)
    assert cut.chunk.page_start == 3  # the citation is unchanged
    assert cut.filename == "a.pdf"


def test_neighbouring_sentences_join_without_a_gap_and_a_whole_chunk_is_left_as_it_is() -> None:
    text = "The dam was built in 1887. It was built of stone. Cows graze."
    [cut] = excerpt("dam built stone", [_hit(text)], 2, reranker=None)
    assert cut.chunk.text == "The dam was built in 1887. It was built of stone."
    whole = _hit("The dam was built in 1887. It was built of stone.")
    assert excerpt("dam built stone", [whole], 5, reranker=None) == [whole]


def test_hits_with_no_kept_sentence_are_dropped_and_the_rest_keep_their_order() -> None:
    hits = [
        _hit("Cows graze. The dam is old.", filename="1.pdf"),
        _hit("Nothing here. Or here.", filename="2.pdf"),
        _hit("The dam was built in 1887.", filename="3.pdf"),
    ]
    kept = excerpt("When was the dam built?", hits, 2, reranker=None)
    assert [h.filename for h in kept] == ["1.pdf", "3.pdf"]
    assert kept[0].chunk.text == "The dam is old."


def test_zero_sentences_means_whole_chunks() -> None:
    hits = [_hit("One. Two. Three.")]
    assert excerpt("one", hits, 0, reranker=None) == hits


class _Scripted(Reranker):
    name = "scripted"
    reads_cjk = False

    def __init__(self) -> None:
        self.calls: list[Sequence[str]] = []

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        self.calls.append(passages)
        return [float("graze" in p) for p in passages]


def test_the_reranker_scores_sentences_where_it_reads_the_query() -> None:
    reranker = _Scripted()
    hits = [_hit("The dam was built. Cows graze.")]
    [cut] = excerpt("When was the dam built?", hits, 1, reranker)
    assert cut.chunk.text == "Cows graze."  # the reranker's choice, not word overlap's
    assert reranker.calls == [["The dam was built.", "Cows graze."]]


def test_a_cjk_query_is_scored_by_overlap_when_the_reranker_cannot_read_it() -> None:
    reranker = _Scripted()
    text = "奶牛吃草。水坝建于1887年。"
    [cut] = excerpt("水坝是哪一年建的？", [_hit(text)], 1, reranker)
    assert cut.chunk.text == "水坝建于1887年。"
    assert reranker.calls == []


def test_overlap_counts_the_share_of_query_words() -> None:
    assert overlap_scores("dam built", ["the dam", "dam was built", "cows"]) == [0.5, 1.0, 0.0]


def test_a_sentence_whose_pronoun_names_the_subject_is_kept_with_the_sentence_before_it() -> None:
    # "He died in 1227." holds the answer but not the name the question asks about: read after
    # the sentence that names him, it is chosen, and that sentence comes with it.
    text = (
        "Genghis Khan split his empire among his sons. Wars followed across the steppe. "
        "Genghis Khan led one more campaign. He would die in 1227 on that campaign."
    )
    [cut] = excerpt("When did Genghis Khan die?", [_hit(text)], 1, reranker=None)
    assert (
        cut.chunk.text
        == "Genghis Khan led one more campaign. He would die in 1227 on that campaign."
    )
    assert cut.chunk.char_start == 100 + text.index("Genghis Khan led")


def test_pairs_stay_inside_their_chunk_and_read_chinese_pronouns() -> None:
    first = _hit("成吉思汗统一了蒙古各部。", char_start=0)
    second = _hit("他于1227年去世。草原上战事不断。", char_start=500)
    cut = excerpt("成吉思汗哪一年去世？", [first, second], 1, reranker=None)
    # 他 sentence, read alone, shares only 去世 with the question; there is no sentence before
    # it in its chunk to pair it with, so the first chunk's sentence (成吉思汗) wins alone.
    assert [h.chunk.text for h in cut] == ["成吉思汗统一了蒙古各部。"]
    joined = _hit("成吉思汗统一了蒙古各部。他于1227年去世。草原上战事不断。")
    [cut] = excerpt("成吉思汗哪一年去世？", [joined], 1, reranker=None)
    assert cut.chunk.text == "成吉思汗统一了蒙古各部。他于1227年去世。"


def test_what_a_question_asks_beyond_the_heading_it_names() -> None:
    tournament = "中国（南京）国际象棋超级大赛"
    assert beyond_heading(f"{tournament}的冠军是谁？", tournament) == " 的冠军是谁？"
    assert beyond_heading("Who won super bowl 50?", "Super Bowl 50") == "Who won  ?"
    assert beyond_heading("什么是易颉输入法？", "易颉输入法") is None  # nothing more asked
    assert beyond_heading("What is the Rhine?", "Rhine") is None
    assert beyond_heading("Who won the final?", "Super Bowl 50") is None  # not named
    assert beyond_heading("Who won the final?", None) is None


def test_a_sentence_that_answers_without_naming_the_heading_is_kept() -> None:
    # Every sentence names the tournament but the winner's: scored against the whole question,
    # the sentences that repeat the name came first.
    heading = "Nanjing Chess Masters"
    text = (
        "The Nanjing Chess Masters were held in Nanjing. "
        "The Nanjing Chess Masters had a sponsor, Pearl Springs. "
        "Carlsen won, a point ahead of Topalov."
    )
    [cut] = excerpt("Who won the Nanjing Chess Masters?", [_hit(text, heading=heading)], 1, None)
    assert cut.chunk.text == "Carlsen won, a point ahead of Topalov."
    [whole] = excerpt("Who won the Nanjing Chess Masters?", [_hit(text)], 1, None)  # no heading
    assert whole.chunk.text == "The Nanjing Chess Masters were held in Nanjing."
