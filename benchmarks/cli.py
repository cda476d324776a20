"""The speed benchmarks, :func:`speed`: ``python -m benchmarks speed``, which ``kbqa bench`` runs
from a checkout (cli/bench.py), beside the other benchmarks, which parse lists as it does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchmarks.console import console, out

# What the speed and GPU benchmarks ingest.
DatasetOption = Annotated[
    Path, typer.Option(help="A folder of PDFs, or one with pdfs/ and questions.jsonl.")
]
PdfsOption = Annotated[int, typer.Option(min=0, help="PDFs to ingest (0: all).")]


def speed(
    what: Annotated[str, typer.Argument(help="ingest, query, generation, all; or scale.")] = "all",
    dataset: DatasetOption = Path("samples"),
    pdfs: PdfsOption = 4,
    searches: Annotated[int, typer.Option(min=1, help="Questions searched.")] = 20,
    asks: Annotated[int, typer.Option(min=0, help="Questions answered (0: none).")] = 3,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens per answer.")] = 64,
    gen_tokens: Annotated[int, typer.Option(min=2, help="Tokens per generation round.")] = 128,
    recall_questions: Annotated[int, typer.Option(min=0, help="Questions for recall.")] = 40,
    langchain: Annotated[bool, typer.Option(help="Run the LangChain baseline.")] = True,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    sizes: Annotated[str, typer.Option(help="scale: corpus sizes, in chunks.")] = "10000,100000",
    scale_dir: Annotated[Path | None, typer.Option(help="scale: keep the corpus here.")] = None,
) -> None:
    """Speed of ingest, search, ask and generation, each as a ratio to what it is built on;
    ``scale``: what a synthetic corpus of each size costs to write, search and open."""
    if what == "scale":  # benchmarks/scale/run.py
        from benchmarks.scale.run import run as run_scale

        run_scale(comma_ints(sizes, "--sizes"), work_dir=scale_dir, json_path=json_path)
        return
    from benchmarks.speed.run import PARTS, print_report, run, write_json

    parts = list(PARTS) if what == "all" else [what]
    if not set(parts) <= set(PARTS):
        known = ", ".join(PARTS)
        console.print(f"[red]error:[/red] what must be one of {known} or all, got {what!r}")
        raise typer.Exit(code=1)
    report = run(
        parts,
        dataset,
        pdfs=pdfs,
        searches=searches,
        asks=asks,
        ask_max_tokens=max_tokens,
        recall_questions=recall_questions,
        langchain=langchain,
        generation_max_tokens=gen_tokens,
    )
    print_report(report, out)
    if json_path is not None:
        write_json(report, json_path)


def comma_ints(text: str, option: str) -> list[int]:
    """``"10000,50000"`` -> ``[10000, 50000]``; anything but whole numbers above 0 is a
    ``typer.BadParameter`` naming ``option``."""
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        message = f"must be whole numbers separated by commas, got {text!r}"
        raise typer.BadParameter(message, param_hint=option) from None
    if (smallest := min(numbers)) <= 0:
        raise typer.BadParameter(f"must be above 0, got {smallest}", param_hint=option)
    return numbers
