"""Excerpts: the sentences of the retrieved chunks that bear on the question, for the prompt.

On a CPU, reading the prompt is most of an answer's time, and a small model answers better when
the sentence that holds the answer is not buried among twenty others. So the prompt gets the
``n`` sentences of the top chunks that score best against the question, each shown in its
chunk, in the chunk's order, with "…" where sentences were left out between two kept ones.
A source never has words cut from inside a sentence, and its citation names the same page.

Sentences are scored by the reranker (MaxSim over token vectors) where it reads the query's
language, else by the share of the query's BM25 terms (words; CJK: character bigrams) they hold.
A passage under a heading that the question names is scored for what the question asks beyond
it too (:func:`beyond_heading`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.text import PRONOUN, asked_content, cjk_ratio, sentence_spans
from core.types import Box, Hit
from index.lexical import tokenize
from retrieval.rerankers import Reranker

GAP = "…"  # stands between two kept sentences that were not neighbours
CJK_QUERY_RATIO = 0.3  # a query with this share of CJK characters is treated as CJK
PAIR_GAIN = 0.05  # what a sentence read after the one before must score above both alone


def other_script(query: str, best: str) -> bool:
    """Whether ``best``, the text of the best passage found, is written in the other script
    than ``query`` (CJK against the rest): a Chinese question about English documents, or the
    other way round. They share no BM25 term, and MiniLM reads no Chinese: only a multilingual
    embedder relates them. The best alone decides: in a collection of both, a question about a
    document in its own language finds that one first (by both BM25 and the vectors), whatever
    the other candidates are."""
    return (cjk_ratio(best) >= CJK_QUERY_RATIO) != (cjk_ratio(query) >= CJK_QUERY_RATIO)


def beyond_heading(query: str, heading: str | None) -> str | None:
    """What ``query`` asks of a passage under ``heading`` beyond naming it: the query without
    the heading, where it names the heading and asks more (under the heading
    "中国（南京）国际象棋超级大赛", "中国（南京）国际象棋超级大赛的冠军是谁？" asks "的冠军是谁？").
    None where it does not name the heading, or asks nothing more ("什么是易颉输入法？",
    "What is the Rhine?").

    Every sentence of an article repeats its subject's name; scored against the whole question,
    the sentences that name the tournament outscore the one that names its winner, which says
    "冠军" but not the tournament.
    """
    if not heading or not (named := re.search(re.escape(heading), query, re.IGNORECASE)):
        return None
    rest = f"{query[: named.start()]} {query[named.end() :]}"
    return rest if tokenize(asked_content(rest)) else None


def overlap_scores(query: str, passages: Sequence[str]) -> list[float]:
    """Share of the query's BM25 terms (:func:`index.lexical.tokenize`) each passage holds."""
    wanted = set(tokenize(query))
    return [len(wanted & set(tokenize(p))) / max(len(wanted), 1) for p in passages]


def sentences_of(hits: Sequence[Hit]) -> list[tuple[int, tuple[int, int]]]:
    """(hit's index, span in its chunk) of every sentence of ``hits``, in order: what
    :func:`excerpt` scores against the query."""
    return [(i, span) for i, h in enumerate(hits) for span in sentence_spans(h.chunk.text)]


def excerpt(query: str, hits: Sequence[Hit], n: int, reranker: Reranker | None) -> list[Hit]:
    """``hits`` cut down to their ``n`` sentences that score best against ``query``.

    A sentence with a pronoun (:data:`core.text.PRONOUN`) is also scored together with the
    sentence before it in its chunk, which often names what its "he" or "it" is: "He died in
    1227." scores low against "What year did Genghis Khan die?" until it is read after "Before
    Genghis Khan died, he assigned ...". Where the pair scores :data:`PAIR_GAIN` above both
    sentences alone, it is ranked as one and kept whole, so the model reads the name too.

    Hits keep their order; one left with no sentence is dropped. A kept hit's chunk text is its
    kept sentences (joined by :data:`GAP` where others were left out between them) and its
    offsets span them, so a citation points at the text the model read.
    """
    if n <= 0 or not hits:
        return list(hits)
    found = sentences_of(hits)
    texts = [hits[i].chunk.text[s:e] for i, (s, e) in found]
    # (k, the sentence before k in the same chunk, read with it)
    paired = [
        (k, hits[i].chunk.text[found[k - 1][1][0] : e])
        for k, (i, (_, e)) in enumerate(found)
        if k and found[k - 1][0] == i and PRONOUN.search(texts[k])
    ]
    scored = [*texts, *(text for _, text in paired)]
    owners = [i for i, _ in found] + [found[k][0] for k, _ in paired]  # each one's hit
    scores = _scores(query, scored, reranker)
    rests = [beyond_heading(query, hit.chunk.heading) for hit in hits]
    scores = _with_heading(rests, owners, scored, scores, reranker)
    alone = scores[: len(texts)]
    # Read together, two sentences score at least as high as the better one alone (MaxSim takes
    # the best match of either's tokens), so a pair counts only where it scores PAIR_GAIN more
    # than both: where the sentence before says what the pronoun means.
    together = {
        k: score
        for (k, _), score in zip(paired, scores[len(texts) :], strict=True)
        if score >= max(alone[k], alone[k - 1]) + PAIR_GAIN
    }
    best_of = [together.get(k, alone[k]) for k in range(len(found))]
    best = sorted(range(len(found)), key=lambda k: -best_of[k])[:n]
    chosen = set(best) | {k - 1 for k in best if k in together}
    kept: dict[int, list[tuple[int, int]]] = {}
    for k in sorted(chosen):  # in the chunk's order
        i, span = found[k]
        kept.setdefault(i, []).append(span)
    return [_cut(hits[i], kept[i]) for i in range(len(hits)) if i in kept]


def _with_heading(
    rests: Sequence[str | None],
    owners: Sequence[int],
    texts: Sequence[str],
    scores: list[float],
    reranker: Reranker | None,
) -> list[float]:
    """``scores`` of ``texts``, each of hit ``owners[j]``, where that hit's ``rests`` entry is
    what the query asks beyond its heading (:func:`beyond_heading`) also scored by that rest:
    the mean of the two. The whole question still counts: scored by "的冠军是谁？" alone, a
    sentence about another company's split-up outranked the tournament's in the trial."""
    beyond: dict[str, list[int]] = {}
    for j, i in enumerate(owners):
        if (rest := rests[i]) is not None:
            beyond.setdefault(rest, []).append(j)
    out = list(scores)
    for rest, js in beyond.items():
        for j, score in zip(js, _scores(rest, [texts[j] for j in js], reranker), strict=True):
            out[j] = (scores[j] + score) / 2
    return out


def _scores(query: str, texts: Sequence[str], reranker: Reranker | None) -> list[float]:
    """The reranker's scores where it reads the query's language, else BM25 term shares."""
    cjk = cjk_ratio(query) >= CJK_QUERY_RATIO
    if reranker is not None and (reranker.reads_cjk or not cjk):
        return reranker.score(query, texts)
    return overlap_scores(query, texts)


def _cut(hit: Hit, spans: list[tuple[int, int]]) -> Hit:
    text = hit.chunk.text
    if spans[0][0] == 0 and spans[-1][1] == len(text.rstrip()) and _contiguous(text, spans):
        return hit
    parts = [text[spans[0][0] : spans[0][1]]]
    bases = [0]  # where each span starts in the excerpt
    for (_, end), (start, stop) in zip(spans, spans[1:], strict=False):
        between = text[end:start]
        parts.append(between if not between.strip() else f" {GAP} ")
        bases.append(sum(map(len, parts)))
        parts.append(text[start:stop])
    chunk = hit.chunk.model_copy(
        update={
            "text": "".join(parts),
            "char_start": hit.chunk.char_start + spans[0][0],
            "char_end": hit.chunk.char_start + spans[-1][1],
            "boxes": _cut_boxes(hit.chunk.boxes, spans, bases),
        }
    )
    return hit.model_copy(update={"chunk": chunk})


def _cut_boxes(boxes: list[Box], spans: list[tuple[int, int]], bases: list[int]) -> list[Box]:
    """The boxes of the kept ``spans``, a line's box cut where a span starts or ends inside it
    (as if its characters were evenly wide), their characters counted in the excerpt."""
    out = []
    for (start, stop), base in zip(spans, bases, strict=True):
        for box in boxes:
            a, b = max(box.start, start), min(box.end, stop)
            if a >= b:
                continue
            step = (box.x1 - box.x0) / max(box.end - box.start, 1)
            update = {
                "x0": round(box.x0 + step * (a - box.start), 5),
                "x1": round(box.x0 + step * (b - box.start), 5),
                "start": base + a - start,
                "end": base + b - start,
            }
            out.append(box.model_copy(update=update))
    return out


def _contiguous(text: str, spans: list[tuple[int, int]]) -> bool:
    return all(not text[e:s].strip() for (_, e), (s, _) in zip(spans, spans[1:], strict=False))
