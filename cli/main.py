"""The ``kbqa`` command: ingest, search, ask, list and delete documents; the servers are in
:mod:`cli.servers`, the answers' options and printing in :mod:`cli.answers`."""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli import feedback, servers, transfer
from cli.answers import (
    AnswerOptions,
    Collections,
    console,
    out,
    print_answer,
    stream_answer,
    with_answer_options,
)
from cli.bench import PASS_THROUGH, bench
from core.errors import IngestError, KbqaError
from core.files import DOCUMENT_SUFFIXES, DOCUMENT_TYPES_TEXT
from core.types import Turn
from evaluation.cli import evaluate

app = typer.Typer(
    help="Question answering over your documents, with cited answers.", no_args_is_help=True
)

Collection = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection (knowledge base).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
STAGES = {"ocr": "reading scanned pages"}  # how a file's progress stage is shown


def _service():  # noqa: ANN202 - imported lazily so `kbqa --help` is instant
    from kbqa.app import KBQA

    return KBQA()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix.lower() in DOCUMENT_SUFFIXES)
            )
        else:
            files.append(path)
    return files


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help=f"Files or folders: {DOCUMENT_TYPES_TEXT}.")],
    collection: Collection = None,
    as_json: AsJson = False,
) -> None:
    """Parse, chunk and index documents; the same content is indexed once."""
    files = _expand(paths)
    if not files:
        raise _fail(f"no supported files found ({DOCUMENT_TYPES_TEXT})")
    results, failures = [], 0
    with (
        _service() as kb,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar,
    ):
        overall = bar.add_task("files", total=len(files))
        for path in files:
            task = bar.add_task(f"  {path.name}", total=None)

            def show(p, task=task):  # noqa: ANN001, ANN202
                bar.update(
                    task,
                    description=f"  {p.filename}: {STAGES.get(p.stage, p.stage)}",
                    completed=p.done,
                    total=p.total,
                )

            try:
                result = kb.ingest(path, collection, progress=show)
                doc = result.document
                status = "indexed" if result.created else "duplicate"
                results.append({"file": str(path), "status": status, **doc.model_dump(mode="json")})
                if not as_json:
                    out.print(
                        f"[green]{status}[/green] {path.name}: {doc.pages} pages,"
                        f" {doc.chunks} chunks, id {doc.id[:12]}"
                    )
            except IngestError as exc:
                failures += 1
                results.append(
                    {
                        "file": str(path),
                        "status": "failed",
                        "reason": exc.reason,
                        "error": exc.detail,
                    }
                )
                if not as_json:
                    out.print(f"[red]failed[/red] {path.name}: {exc.detail} ({exc.reason})")
            bar.remove_task(task)
            bar.advance(overall)
    if as_json:
        out.print_json(json.dumps(results))
    raise typer.Exit(code=1 if failures else 0)


@app.command()
def search(
    question: str,
    collection: Collections = None,
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", "-k", min=1, max=100, help="Default: KBQA_RETRIEVAL__TOP_K (5)."),
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
    no_rerank: Annotated[bool, typer.Option("--no-rerank", help="Skip the rerank stage.")] = False,
    as_json: AsJson = False,
) -> None:
    """Rank passages for a question (retrieval only, no model)."""
    with _service() as kb:
        found = kb.search(question, collection, top_k=top_k, mode=mode, rerank=not no_rerank)
    if as_json:
        hits = [
            {"rank": i, **h.source(), "scores": h.scores, "text": h.chunk.text}
            for i, h in enumerate(found.hits, 1)
        ]
        out.print_json(
            json.dumps(
                {"query": question, "hits": hits, "timings": found.timings, "notes": found.notes}
            )
        )
        return
    table = Table("#", "score", "document", "page", "text")
    for i, h in enumerate(found.hits, 1):
        table.add_row(
            str(i), f"{h.score:.3f}", h.filename, str(h.chunk.page_start), h.chunk.text[:160]
        )
    out.print(table)
    for note in found.notes:
        console.print(f"[dim]{note}[/dim]")


@app.command()
@with_answer_options
def ask(
    question: str,
    options: AnswerOptions,
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, max=50)] = None,
    as_json: AsJson = False,
) -> None:
    """Answer a question from the documents, citing document and page."""
    with _service() as kb:
        answer = stream_answer(kb, question, options, top_k, show=not as_json)
    if as_json:
        out.print_json(answer.model_dump_json())
    else:
        print_answer(answer)


@app.command()
@with_answer_options
def chat(
    options: AnswerOptions,
    question: Annotated[str | None, typer.Argument(help="A first question (optional).")] = None,
) -> None:
    """Ask question after question; the model stays loaded and follow-ups ("and who built
    it?") are understood. An empty line or Ctrl-D ends."""
    history: list[Turn] = []
    with _service() as kb:
        if not kb.documents():
            console.print(
                "[yellow]the knowledge base is empty: run `kbqa ingest FILES` first[/yellow]"
            )
        while True:
            if question is None:
                try:
                    question = console.input("[bold]question>[/bold] ").strip()
                except (EOFError, KeyboardInterrupt):
                    break
            if not question:
                break
            try:
                answer = stream_answer(kb, question, options, None, True, history)
            except (KbqaError, ValueError) as exc:
                console.print(f"[red]error:[/red] {exc}")
            else:
                print_answer(answer)
                history += [
                    Turn(role="user", content=answer.question),
                    Turn(role="assistant", content=answer.answer),
                ]
            question = None


@app.command()
def documents(collection: Collection = None, as_json: AsJson = False) -> None:
    """List indexed documents."""
    with _service() as kb:
        docs = kb.documents(collection)
    if as_json:
        out.print_json(json.dumps([d.model_dump(mode="json") for d in docs]))
        return
    table = Table("id", "collection", "file", "pages", "chunks", "added")
    for d in docs:
        table.add_row(
            d.id[:12],
            d.collection,
            d.filename,
            str(d.pages),
            str(d.chunks),
            f"{d.added_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@app.command()
def delete(document_id: str, collection: Collection = None) -> None:
    """Delete a document (id or unique id prefix) and every trace of it."""
    with _service() as kb:
        name = kb.collection_or_default(collection)
        matches = [d for d in kb.documents(name) if d.id.startswith(document_id)]
        if len(matches) != 1:
            raise _fail(f"{len(matches)} documents in {name!r} match id {document_id!r}")
        doc = kb.delete(matches[0].id, name)
    out.print(f"deleted {doc.filename} ({doc.id[:12]}) from {name}")


@app.command()
def check() -> None:
    """Check the index: every document whole in the store, the vectors and BM25."""
    with _service() as kb:
        problems = kb.verify()
        stats = kb.stats()
    for problem in problems:
        console.print(f"[red]problem:[/red] {problem}")
    if problems:
        raise typer.Exit(code=1)
    documents = sum(d for d, _ in stats.values())
    out.print(f"index OK: {len(stats)} collections, {documents} documents")


app.command("eval")(evaluate)
app.command("bench", context_settings=PASS_THROUGH, add_help_option=False)(bench)
app.command("model-server")(servers.model_server)
app.command("convert-gguf")(servers.convert_gguf)
app.command()(servers.serve)
app.add_typer(transfer.app, name="index")
app.add_typer(feedback.app, name="feedback")


def main() -> None:
    """Entry point that turns domain errors into one clear line and exit code 1."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop_on_sigterm()
    try:
        app()
    except (KbqaError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)


def stop_on_sigterm() -> None:
    """Make SIGTERM (``docker stop``, systemd, ``timeout``) end kbqa the way Ctrl-C does.

    A model server kbqa starts is a child process that kbqa stops on its way out (vLLM's in a
    session of its own, so that kbqa stops its engine and workers in order). A SIGTERM sent to
    kbqa alone ended it without unwinding under Python's default, and left the server running:
    a vLLM server holds gigabytes."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
