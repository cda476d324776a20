"""Answers in the terminal: the options ``kbqa ask`` and ``kbqa chat`` share, an answer
streamed as it is written, and printed with its sources and what the guard did."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from core.types import STRATEGIES, Answer, Discard, Sampling, Turn

console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

Collections = Annotated[
    list[str] | None,
    typer.Option("--collection", "-c", help="Collection(s) to search; repeatable."),
]


def _check_strategy(value: str | None) -> str | None:
    if value is not None and value not in STRATEGIES:
        console.print(
            f"[red]error:[/red] strategy must be one of {', '.join(STRATEGIES)}, got {value!r}"
        )
        raise typer.Exit(code=1)
    return value


StrategyOption = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        "-s",
        help=f"{' | '.join(STRATEGIES)}; default: KBQA_GENERATION__STRATEGY (zero-shot).",
        callback=_check_strategy,
    ),
]

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


@dataclass(frozen=True)
class AnswerOptions:
    """What ``kbqa ask`` and ``kbqa chat`` share: where to search, the prompt, the sampling.
    ``None`` leaves a choice to the settings."""

    collection: list[str] | None
    strategy: str | None
    sampling: Sampling


def answer_options(
    collection: Collections = None,
    strategy: StrategyOption = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    top_k_tokens: TopKTokens = None,
    max_tokens: MaxTokens = None,
    repetition_penalty: RepetitionPenalty = None,
    stop: Stop = None,
    seed: Seed = None,
    ban: Ban = None,
) -> AnswerOptions:
    """The options, checked; a bad sampling value is a ``typer.BadParameter``."""
    try:
        sampling = Sampling(
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
    return AnswerOptions(collection, strategy, sampling)


def with_answer_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with the options of :func:`answer_options` in place of its parameter
    ``options: AnswerOptions``, which receives them, checked (typer has no option groups:
    this gives the commands one list of them, with their help, instead of one each)."""
    own = inspect.signature(command, eval_str=True).parameters
    shared = inspect.signature(answer_options, eval_str=True).parameters

    @functools.wraps(command)
    def wrapper(**values: Any) -> None:
        options = answer_options(**{name: values.pop(name) for name in shared})
        command(**values, options=options)

    params: list[inspect.Parameter] = []
    for name, param in own.items():
        params.extend(shared.values() if name == "options" else [param])
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def stream_answer(
    kb,  # noqa: ANN001 - a KBQA, imported lazily
    question: str,
    options: AnswerOptions,
    top_k: int | None,
    show: bool,
    history: list[Turn] | None = None,
) -> Answer:
    """Ask, printing the answer as it is written when ``show``; returns the Answer."""
    answer = None
    items = kb.ask_stream(
        question,
        options.collection,
        strategy=options.strategy,
        top_k=top_k,
        sampling=options.sampling,
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
    if answer.note:  # which of two entities a follow-up's pronoun was taken for
        out.print(f"[yellow]{escape(answer.note)}[/yellow]", markup=True)
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
