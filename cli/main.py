"""The ``kbqa`` command: ingest, search, ask, list and delete documents, run the model server."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.cli import speed
from cli import answers as opts
from cli.answers import console, out, print_answer, stream_answer
from core.errors import IngestError, KbqaError
from core.files import DOCUMENT_SUFFIXES, DOCUMENT_TYPES_TEXT
from core.types import STRATEGIES, Turn
from evaluation.cli import evaluate

if TYPE_CHECKING:
    from core.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from installed packages, never a hub
app = typer.Typer(
    help="Question answering over your documents, with cited answers.", no_args_is_help=True
)

Collection = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection (knowledge base).")
]
Collections = Annotated[
    list[str] | None,
    typer.Option("--collection", "-c", help="Collection(s) to search; repeatable."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
STAGES = {"ocr": "reading scanned pages"}  # how a file's progress stage is shown


def _check_strategy(value: str | None) -> str | None:
    if value is not None and value not in STRATEGIES:
        raise _fail(f"strategy must be one of {', '.join(STRATEGIES)}, got {value!r}")
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
def ask(
    question: str,
    collection: Collections = None,
    strategy: StrategyOption = None,
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, max=50)] = None,
    as_json: AsJson = False,
    temperature: opts.Temperature = None,
    top_p: opts.TopP = None,
    top_k_tokens: opts.TopKTokens = None,
    max_tokens: opts.MaxTokens = None,
    repetition_penalty: opts.RepetitionPenalty = None,
    stop: opts.Stop = None,
    seed: opts.Seed = None,
    ban: opts.Ban = None,
) -> None:
    """Answer a question from the documents, citing document and page."""
    sampling = opts.sampling(
        temperature, top_p, top_k_tokens, max_tokens, repetition_penalty, stop, seed, ban
    )
    with _service() as kb:
        answer = stream_answer(
            kb, question, collection, strategy, top_k, sampling, show=not as_json
        )
    if as_json:
        out.print_json(answer.model_dump_json())
    else:
        print_answer(answer)


@app.command()
def chat(
    question: Annotated[str | None, typer.Argument(help="A first question (optional).")] = None,
    collection: Collections = None,
    strategy: StrategyOption = None,
    temperature: opts.Temperature = None,
    top_p: opts.TopP = None,
    top_k_tokens: opts.TopKTokens = None,
    max_tokens: opts.MaxTokens = None,
    repetition_penalty: opts.RepetitionPenalty = None,
    stop: opts.Stop = None,
    seed: opts.Seed = None,
    ban: opts.Ban = None,
) -> None:
    """Ask question after question; the model stays loaded and follow-ups ("and who built
    it?") are understood. An empty line or Ctrl-D ends."""
    sampling = opts.sampling(
        temperature, top_p, top_k_tokens, max_tokens, repetition_penalty, stop, seed, ban
    )
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
                answer = stream_answer(
                    kb, question, collection, strategy, None, sampling, True, history
                )
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
app.command("bench")(speed)


@app.command("model-server")
def model_server() -> None:
    """Run the embedded chat server in the foreground (point KBQA_LLM__BASE_URL at it)."""
    from core.settings import get_settings
    from generation.server import make_server

    settings = get_settings()
    server = make_server(settings.llm, settings.models_dir, settings.data_dir / "logs")
    with server:
        out.print(
            f"chat server at {server.base_url} (model {settings.llm.served_name}); Ctrl-C stops it."
            f" Point KBQA_LLM__BASE_URL at it, with KBQA_LLM__DIALECT={server.dialect}"
        )
        try:
            assert server.process is not None
            server.process.wait()
        except KeyboardInterrupt:
            pass


@app.command("convert-gguf")
def convert_gguf(
    gguf: Annotated[
        Path | None, typer.Argument(help="A GGUF file; default: the packaged local model.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write (default: models/<name>-hf).")
    ] = None,
    dtype: Annotated[str, typer.Option(help="bfloat16, float16 or float32.")] = "bfloat16",
) -> None:
    """Convert a GGUF model to a Hugging Face folder for vLLM (KBQA_LLM__SERVER=vllm)."""
    from core.settings import get_settings
    from generation import convert
    from generation.assets import PACKAGED_MODELS

    settings = get_settings()
    if gguf is None and out_dir is None:
        folder = convert.ensure_hf_model(
            PACKAGED_MODELS[settings.llm.local_model], settings.models_dir, dtype
        )
    elif gguf is None:
        raise _fail("--out needs a GGUF file to convert")
    else:
        target = out_dir or settings.models_dir / f"{gguf.stem}-hf"
        folder = convert.convert_gguf(gguf, target, dtype)
    out.print(folder)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (KBQA_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (KBQA_API__PORT).")] = None,
    ui: Annotated[bool, typer.Option(help="Start the web UI too (KBQA_UI__ENABLED).")] = True,
) -> None:
    """Run the HTTP API, the chat model server and the web UI; Ctrl-C stops them all."""
    import uvicorn

    from api.app import create_app
    from core.settings import ApiSettings, get_settings

    settings = get_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    api = ApiSettings.model_validate({**settings.api.model_dump(), **overrides})
    settings = settings.model_copy(update={"api": api})
    logging.getLogger("api").setLevel(logging.INFO)
    logging.getLogger("kbqa").setLevel(logging.INFO)
    if not api.auth_enabled:
        console.print("[yellow]no API keys set: the API is open to this machine only[/yellow]")
    console.print(f"kbqa API at http://{api.host}:{api.port} (docs: /docs)")
    console.print("the models load in the background; /health says when they are ready")
    web = _start_ui(settings) if ui and settings.ui.enabled else None
    stops = [lambda: _stop(web)] if web is not None else []
    try:
        app = create_app(settings, on_shutdown=stops)
        uvicorn.run(app, host=api.host, port=api.port, timeout_graceful_shutdown=5)
    finally:  # also when the API fails to start
        if web is not None:
            _stop(web)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_ui(settings: Settings) -> subprocess.Popen[bytes]:
    """Streamlit on ui/app.py, pointed at this API with its first key."""
    import ui as ui_package

    api, ui = settings.api, settings.ui
    script = Path(ui_package.__file__ or "").with_name("app.py")
    client_host = "127.0.0.1" if api.host in ("0.0.0.0", "::") else api.host
    env = {
        **os.environ,
        "KBQA_UI__API_URL": ui.api_url or f"http://{client_host}:{api.port}",
        "KBQA_UI__API_KEY": ui.api_key or next(iter(api.keys), ""),
    }
    command = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.address", ui.host, "--server.port", str(ui.port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
        "--server.maxUploadSize", str(max(1, int(settings.ingest.max_file_mb))),
    ]  # fmt: skip
    log_path = settings.data_dir / "logs" / "ui.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"kbqa UI at http://{ui.host}:{ui.port} (log: {log_path})")
    with log_path.open("ab") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


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
