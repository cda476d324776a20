"""``python -m benchmarks translate-dataset``: a dataset's questions in the other language.

Questions in one language about documents in the other are what kbqa's translation step
(:mod:`generation.translate`) is for, and no shipped set holds them. This makes one from a
dataset folder (``pdfs/`` and ``questions.jsonl``): the questions, or a seeded sample of them
(drawn as ``kbqa eval --sample`` draws), translated by kbqa's own chat model with kbqa's own
translation prompt, beside a link to the same PDFs. A question the model does not translate is
left out and counted. Each kept question keeps its id (so its half of ``--refusals`` is the
same), its answers and its document, and records the question it came from as ``original``.

    python -m benchmarks translate-dataset build/gate/squad build/gate/squad-zh --into zh \\
        --sample 60 --seed 0
    KBQA_DATA_DIR=build/gate/squad/index kbqa eval build/gate/squad-zh --refusals \\
        --strategies zero-shot --collection eval-squad
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from evaluation.dataset import load_questions, sample
from kbqa.app import KBQA


def translate_dataset(
    source: Annotated[Path, typer.Argument(help="A dataset folder: pdfs/ and questions.jsonl.")],
    out: Annotated[Path, typer.Argument(help="The folder to write (questions.jsonl, pdfs link).")],
    into: Annotated[Literal["en", "zh"], typer.Option(help="The language to translate into.")],
    n: Annotated[
        int | None, typer.Option("--sample", min=1, help="Questions drawn (default: all).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
) -> None:
    """Translate a dataset's questions with kbqa's chat model, for cross-language evaluation."""
    questions = sample(load_questions(source / "questions.jsonl"), n, seed)
    out.mkdir(parents=True, exist_ok=True)
    pdfs = out / "pdfs"
    if not pdfs.exists():
        pdfs.symlink_to((source / "pdfs").resolve(), target_is_directory=True)
    kept = 0
    with KBQA() as kb, (out / "questions.jsonl").open("w", encoding="utf-8") as f:
        for q in questions:
            translated = kb.generator.translate(q.question, into)
            if translated is None:
                continue
            row = {**q.model_dump(exclude_none=True), "question": translated}
            f.write(json.dumps({**row, "original": q.question}, ensure_ascii=False) + "\n")
            kept += 1
    print(f"translated {kept} of {len(questions)} questions into {into} -> {out}")
