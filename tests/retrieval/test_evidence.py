"""The evidence gate: the score a refusal rests on, from the search's own scores."""

from __future__ import annotations

import pytest

from core.settings import RetrievalSettings
from core.types import Chunk, Evidence, Hit
from retrieval.evidence import coverage, measure


def _hit(text: str, scores: dict[str, float] | None = None) -> Hit:
    chunk = Chunk(
        document_id="d", ordinal=0, text=text, page_start=1, page_end=1, char_start=0, char_end=1
    )
    return Hit(chunk=chunk, collection="c", filename="f.pdf", score=1.0, scores=scores or {})


def test_the_top_rerank_score_is_the_evidence_where_maxsim_scored() -> None:
    settings = RetrievalSettings(reranker="maxsim", min_maxsim=0.4)
    hits = [_hit("a", {"rerank": 0.38}), _hit("b", {"rerank": 0.9})]  # the top hit counts
    evidence = measure("who kept the lighthouse?", hits, settings)
    assert evidence == Evidence(
        signal="rerank", score=0.38, threshold=0.4, sure_threshold=settings.sure_maxsim
    )
    assert evidence.weak


def test_coverage_where_no_maxsim_score() -> None:
    settings = RetrievalSettings(min_coverage=0.5)
    hits = [_hit("赛里木湖古称净海。"), _hit("北京是首都。")]
    strong = measure("赛里木湖古称什么？", hits, settings)
    assert strong.signal == "coverage"
    assert strong.score > 0.5
    assert not strong.weak
    assert measure("长城有多长？", hits, settings).weak


@pytest.mark.parametrize("reranker", ["cross-encoder", "vectors"])
def test_another_rerankers_score_is_not_held_against_the_maxsim_threshold(reranker: str) -> None:
    settings = RetrievalSettings(reranker=reranker, min_maxsim=0.4)
    evidence = measure(
        "lighthouse keeper", [_hit("The lighthouse keeper", {"rerank": -3.0})], settings
    )
    assert evidence.signal == "coverage"
    assert evidence.score == 1.0


@pytest.mark.parametrize("signal", ["rerank", "coverage"])
def test_a_zero_threshold_never_refuses(signal: str) -> None:
    settings = RetrievalSettings(reranker="maxsim", min_maxsim=0, min_coverage=0)
    scores = {"rerank": 0.0} if signal == "rerank" else {}
    assert not measure("anything at all", [_hit("nothing", scores)], settings).weak


def test_no_hits_is_no_evidence() -> None:
    assert coverage("lighthouse", []) == 0.0
    assert measure("lighthouse", [], RetrievalSettings()).weak


def test_evidence_is_sure_from_its_own_threshold() -> None:
    settings = RetrievalSettings(reranker="maxsim", sure_maxsim=0.6, sure_coverage=0.5)
    assert measure("q", [_hit("a", {"rerank": 0.61})], settings).sure
    assert not measure("q", [_hit("a", {"rerank": 0.59})], settings).sure
    off = RetrievalSettings(reranker="maxsim", sure_maxsim=0)
    assert not measure("q", [_hit("a", {"rerank": 0.99})], off).sure
    chinese = measure("赛里木湖古称什么？", [_hit("赛里木湖古称净海。")], settings)
    assert chinese.signal == "coverage"
    assert chinese.sure
    assert not measure("赛里木湖古称什么？", [_hit("赛里木湖在新疆。")], settings).sure


def test_a_cjk_question_is_judged_by_coverage_even_where_maxsim_is_the_reranker() -> None:
    """Its rerank score came from the stored vectors (MaxSim reads no CJK), on another scale."""
    settings = RetrievalSettings(reranker="maxsim", min_maxsim=0.4, min_coverage=0.5)
    hits = [_hit("赛里木湖古称净海。", {"rerank": 0.1})]
    evidence = measure("赛里木湖古称什么？", hits, settings)
    assert evidence.signal == "coverage"
    assert not evidence.weak


def test_passages_in_the_other_script_are_judged_by_the_best_cosine() -> None:
    """A Chinese question about English passages shares no term with them (coverage 0) and
    MaxSim's MiniLM reads only one side: the multilingual embedder's cosine is the evidence,
    the best of the hits', held against its own threshold. Either way round."""
    settings = RetrievalSettings(reranker="maxsim", min_cosine=0.8)
    english = [
        _hit("The Apollo program ran from 1961 to 1972.", {"dense": 0.79, "rerank": 0.71}),
        _hit("Apollo 11 landed on the Moon in 1969.", {"dense": 0.83, "rerank": 0.70}),
        _hit("阿波罗计划", {"rerank": 0.5}),  # no dense score: not among the dense candidates
    ]
    strong = measure("阿波罗计划是哪一年结束的？", english, settings)
    assert strong == Evidence(signal="cosine", score=0.83, threshold=0.8)
    assert not strong.weak
    assert not strong.sure  # no "sure" cosine: the model's refusal stands
    chinese = [_hit("阿波罗计划于1972年结束。", {"dense": 0.77, "rerank": 0.9})]
    weak = measure("When did the Apollo program end?", chinese, settings)
    assert (weak.signal, weak.score) == ("cosine", 0.77)
    assert weak.weak
    same_script = measure("When did the Apollo program end?", english[:2], settings)
    assert same_script.signal == "rerank"  # MaxSim read both: its score, as before


def test_without_a_dense_score_the_other_script_falls_back_to_coverage() -> None:
    """A BM25-only search (MiniLM, which reads no Chinese) has no cosine to judge by."""
    hits = [_hit("The Apollo program ran from 1961 to 1972.", {"bm25": 1.0})]
    assert measure("阿波罗计划是哪一年结束的？", hits, RetrievalSettings()).signal == "coverage"


def test_a_sentence_is_read_under_its_heading() -> None:
    """An article names its subject in its heading and seldom again: the heading's terms count
    as the sentence's, where the question names the subject."""
    answer = "2011年被聘为台湾师范大学讲座教授。"
    chunk = _hit(answer).chunk.model_copy(update={"heading": "杨朝祥"})
    under = Hit(chunk=chunk, collection="c", filename="f.pdf", score=1.0)
    question = "杨朝祥在2011年被聘为什么职务？"
    assert coverage(question, [under]) > coverage(question, [_hit(answer)])
    # a heading about something else adds nothing
    other = under.model_copy(update={"chunk": chunk.model_copy(update={"heading": "龙胆"})})
    assert coverage(question, [other]) == coverage(question, [_hit(answer)])
