"""Answers in the terminal: the generation options of ``kbqa ask`` and ``kbqa chat``, an
answer streamed as it is written, and printed with its sources and what the guard did."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from core.types import Answer, Discard, Sampling, Turn

console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

PANEL = "Generation (default: the server's settings; greedy)"

Temperature = Annotated[
    float | None,
    typer.Option(min=0, max=2, help="0: greedy decoding.", rich_help_panel=PANEL),
]
TopP = Annotated[
    float | None,
    typer.Option("--top-p", min=0, max=1, help="Nucleus sampling mass.", rich_help_panel=PANEL),
]
TopKTokens = Annotated[
    int | None,
    typer.Option(
        "--top-k-tokens",
        min=0,
        max=1000,
        help="Sample from the k most likely tokens; 0: all (--top-k is passages).",
        rich_help_panel=PANEL,
    ),
]
MaxTokens = Annotated[
    int | None,
    typer.Option("--max-tokens", min=1, max=8192, help="Most tokens.", rich_help_panel=PANEL),
]
RepetitionPenalty = Annotated[
    float | None,
    typer.Option(
        "--repetition-penalty",
        min=0.5,
        max=2,
        help="Above 1 discourages repeating tokens.",
        rich_help_panel=PANEL,
    ),
]
Stop = Annotated[
    list[str] | None,
    typer.Option(help="A string that ends the answer; repeatable (4).", rich_help_panel=PANEL),
]
Seed = Annotated[
    int | None, typer.Option(help="Seed for reproducible sampling.", rich_help_panel=PANEL)
]
Ban = Annotated[
    list[str] | None,
    typer.Option(
        "--ban", help="A word the answer must never contain; repeatable.", rich_help_panel=PANEL
    ),
]


def sampling(
    temperature: float | None = None,
    top_p: float | None = None,
    top_k_tokens: int | None = None,
    max_tokens: int | None = None,
    repetition_penalty: float | None = None,
    stop: list[str] | None = None,
    seed: int | None = None,
    ban: list[str] | None = None,
) -> Sampling:
    """The options as a :class:`Sampling`; a bad value is a ``typer.BadParameter``."""
    try:
        return Sampling(
            temperature=temperature,
            top_p=top_p,
            top_k_tokens=top_k_tokens,
            max_tokens=max_tokens,
            repetition_penalty=repetition_penalty,
            stop=stop or None,
            seed=seed,
            bad_words=ban or None,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise typer.BadParameter(f"{where}: {error['msg']}") from None


def stream_answer(
    kb,  # noqa: ANN001 - a KBQA, imported lazily
    question: str,
    collection: list[str] | None,
    strategy: str | None,
    top_k: int | None,
    sampling: Sampling | None,
    show: bool,
    history: list[Turn] | None = None,
) -> Answer:
    """Ask, printing the answer as it is written when ``show``; returns the Answer."""
    answer = None
    items = kb.ask_stream(
        question,
        collection,
        strategy=strategy,
        top_k=top_k,
        sampling=sampling,
        history=history or [],
    )
    for item in items:
        if isinstance(item, Answer):
            answer = item
        elif isinstance(item, Discard):
            if show:  # what was printed stays on the terminal: say it is dropped
                console.print(f"\n[yellow]({item.message})[/yellow]")
        elif show:
            out.print(item, end="")
    assert answer is not None
    if show:
        out.print()
    return answer


def print_answer(answer: Answer) -> None:
    """What follows the streamed text: the answer where it differs, sources, the guard."""
    if answer.search_query and answer.search_query != answer.question:
        searched = " ".join(answer.search_query.split())
        out.print(f"[dim]searched for: {searched}[/dim]", markup=True)
    if answer.guard is not None and answer.guard.action != "retried":
        out.print(f"[bold]Answer:[/bold] {answer.answer}")  # not the text streamed
    elif answer.unsupported_answer is not None:
        out.print(
            f"[yellow]The documents do not support that answer "
            f"({answer.support:.0%} of its words are in the sources): {answer.answer}[/yellow]"
        )
    elif answer.reasoning:
        out.print(f"\n[bold]Answer:[/bold] {answer.answer}")
    for c in answer.citations:
        out.print(f"  {c.label}", markup=False)
    if answer.guard is not None:
        console.print(f"[yellow]{answer.guard.summary()}[/yellow]")
    out.print(f"[dim]{answer.timings.get('total', 0):.1f}s, {answer.model}[/dim]")
