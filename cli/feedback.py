"""``kbqa feedback``: the feedback given on answers, listed or exported as a question set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.answers import out

app = typer.Typer(help="Feedback on answers (POST /feedback), as kbqa eval reads it.")


@app.command("export")
def export(
    questions: Annotated[
        Path, typer.Argument(help="questions.jsonl to write: the thumbs-up, for kbqa eval.")
    ],
    review: Annotated[
        Path | None,
        typer.Option(help="Also write the thumbs-down here, for a person to add answers."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most feedback read, newest first.")] = 10000,
) -> None:
    """Write the feedback of the state (KBQA_STATE__URL: every node's) as a question set."""
    from evaluation.feedback import export_feedback
    from kbqa.app import KBQA

    with KBQA() as kb:
        ups, downs = export_feedback(kb.feedback(limit), questions, review)
    out.print(f"wrote {ups} questions to {questions}")
    if review is not None:
        out.print(f"wrote {downs} thumbs-down to review to {review}")
