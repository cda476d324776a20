"""``kbqa eval``: score retrieval and answers on a question set, print tables, write JSON + PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from core.errors import IngestError, KbqaError
from core.types import STRATEGIES

SHIPPED = Path(__file__).parent / "data"
DEFAULT_DATASET = SHIPPED / "squad-en"
console = Console(stderr=True)
out = Console(highlight=False)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def evaluate(
    dataset: Annotated[
        Path,
        typer.Argument(
            help="A folder with questions.jsonl (and pdfs/ to ingest first), a questions .jsonl "
            "file, or a SQuAD-format .json file. Default: the English set shipped with kbqa."
        ),
    ] = DEFAULT_DATASET,
    collection: Annotated[
        list[str] | None,
        typer.Option(
            "--collection",
            "-c",
            help="Collection(s) to search; default: eval-<folder> for a folder with pdfs/, "
            "else the default collection.",
        ),
    ] = None,
    strategies: Annotated[
        str, typer.Option(help="Prompt strategies to compare, comma-separated.")
    ] = ",".join(STRATEGIES),
    retrieval: Annotated[
        str,
        typer.Option(help="Retrieval set-ups to compare; the first one feeds the answers."),
    ] = "hybrid+rerank,hybrid,dense,bm25",
    k: Annotated[int, typer.Option("-k", min=1, max=10, help="Depth of recall@k.")] = 5,
    budget: Annotated[
        int, typer.Option(min=100, help="Characters of ranked text for budget recall.")
    ] = 4000,
    sample: Annotated[
        int | None, typer.Option(min=1, help="Score a random sample of N questions.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    no_answers: Annotated[
        bool, typer.Option("--no-answers", help="Score retrieval only (no chat model).")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for report.json and report.png (default build/eval)."),
    ] = None,
    chat: Annotated[
        bool,
        typer.Option(
            "--chat",
            help="Score conversations instead: second questions after an unrelated one, "
            "follow-ups with a pronoun (next, or two turns later), ellipses ('And its summer "
            "festival?') and pointers at the previous answer, against the same questions asked "
            "alone (--sample: conversations of each kind; the first of --strategies answers).",
        ),
    ] = False,
    refusals: Annotated[
        bool,
        typer.Option(
            "--refusals",
            help="Score refusals instead: each question against the whole collection "
            "(answerable) and against it without the question's PDF (unanswerable); both "
            "error rates per half of the questions, thresholds tuned on one and reported on "
            "the other (--no-answers: the evidence gate alone, no chat model).",
        ),
    ] = False,
) -> None:
    """Score retrieval (recall@k, MRR, page hit) and answers (EM, F1, ROUGE-L, citations,
    refusals) on a question set, comparing set-ups and strategies side by side."""
    try:
        if refusals:
            first = _split(strategies)[0] if not no_answers else None
            _evaluate_refusals(dataset, collection, first, sample, seed, output)
            return
        if chat:
            _evaluate_chat(dataset, collection, _split(strategies), sample, seed, output)
            return
        _evaluate(
            dataset,
            collection,
            _split(strategies),
            _split(retrieval),
            k,
            budget,
            sample,
            seed,
            not no_answers,
            output,
        )
    except KbqaError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from exc


def _evaluate(
    dataset: Path,
    collections: list[str] | None,
    strategies: list[str],
    retrieval: list[str],
    k: int,
    budget: int,
    sample_size: int | None,
    seed: int,
    answers: bool,
    output: Path | None,
) -> None:
    from core.errors import InvalidRequestError
    from evaluation.dataset import load_questions, sample
    from evaluation.report import answer_table, retrieval_table, write_chart, write_json
    from evaluation.runner import EvalConfig, Evaluator
    from kbqa.app import KBQA

    if bad := [s for s in strategies if s not in STRATEGIES]:
        raise InvalidRequestError(f"strategies must be among {', '.join(STRATEGIES)}, got {bad}")
    questions_file, pdfs = _locate(dataset)
    questions = sample(load_questions(questions_file), sample_size, seed)
    name = dataset.stem if dataset.is_file() else dataset.name
    output = output or Path("build/eval") / name
    with KBQA() as kb:
        if collections is None:
            collections = [f"eval-{name}"] if pdfs else [kb.settings.collection]
        if pdfs:
            _ingest(kb, pdfs, collections[0])
        config = EvalConfig(collections, strategies, retrieval, k, budget, answers)  # type: ignore[arg-type]
        evaluator = Evaluator(kb, config)
        with _progress() as bar:
            task = bar.add_task(f"{len(questions)} questions", total=evaluator.steps(questions))
            report = evaluator.run(questions, str(dataset), lambda: bar.advance(task))
    out.print(retrieval_table(report))
    if report.answers:
        out.print(answer_table(report))
    write_json(report, output / "report.json")
    write_chart(report, output / "report.png")
    out.print(f"wrote {output / 'report.json'} and {output / 'report.png'}")


def _evaluate_chat(
    dataset: Path,
    collections: list[str] | None,
    strategies: list[str],
    n: int | None,
    seed: int,
    output: Path | None,
) -> None:
    from core.errors import InvalidRequestError
    from core.files import write_atomically
    from evaluation.chat import ChatEvaluator, build_cases, chat_table
    from evaluation.dataset import load_questions
    from kbqa.app import KBQA

    if not strategies or strategies[0] not in STRATEGIES:
        raise InvalidRequestError(f"strategies must be among {', '.join(STRATEGIES)}")
    questions_file, pdfs = _locate(dataset)
    cases = build_cases(load_questions(questions_file), n, seed)
    if not cases:
        raise InvalidRequestError(f"{questions_file}: no two answerable questions to pair")
    name = dataset.stem if dataset.is_file() else dataset.name
    output = output or Path("build/eval") / name
    with KBQA() as kb:
        if collections is None:
            collections = [f"eval-{name}"] if pdfs else [kb.settings.collection]
        if pdfs:
            _ingest(kb, pdfs, collections[0])
        evaluator = ChatEvaluator(kb, collections, strategies[0])  # type: ignore[arg-type]
        with _progress() as bar:
            task = bar.add_task(f"{len(cases)} conversations", total=evaluator.steps(cases))
            report = evaluator.run(cases, str(dataset), lambda: bar.advance(task))
    out.print(chat_table(report))
    output.mkdir(parents=True, exist_ok=True)
    write_atomically(output / "chat.json", report.model_dump_json(indent=2).encode())
    out.print(f"wrote {output / 'chat.json'}")


def _evaluate_refusals(
    dataset: Path,
    collections: list[str] | None,
    strategy: str | None,
    n: int | None,
    seed: int,
    output: Path | None,
) -> None:
    from core.errors import InvalidRequestError
    from core.files import write_atomically
    from evaluation.dataset import load_questions, sample
    from evaluation.refusals import RefusalEvaluator, build_cases, held_out_name, refusal_table
    from kbqa.app import KBQA

    if strategy is not None and strategy not in STRATEGIES:
        raise InvalidRequestError(f"strategies must be among {', '.join(STRATEGIES)}")
    questions_file, pdfs = _locate(dataset)
    if pdfs is None:
        raise InvalidRequestError(f"{dataset}: --refusals needs a dataset folder with pdfs/")
    questions = sample(load_questions(questions_file), n, seed)
    files = sorted(p.name for p in pdfs.glob("*.pdf"))
    name = dataset.name
    output = output or Path("build/eval") / name
    with KBQA() as kb:
        collection = (collections or [f"eval-{name}"])[0]
        _ingest(kb, pdfs, collection)
        for left_out in sorted({q.document for q in questions if q.document in files}):
            held_out = held_out_name(collection, left_out.rsplit(".", 1)[0])
            _ingest(kb, pdfs, held_out, skip=left_out)
        cases = build_cases(questions, collection, files)
        evaluator = RefusalEvaluator(kb, strategy)  # type: ignore[arg-type]
        with _progress() as bar:
            task = bar.add_task(f"{len(cases)} questions asked", total=len(cases))
            report = evaluator.run(cases, str(dataset), lambda: bar.advance(task))
    out.print(refusal_table(report))
    output.mkdir(parents=True, exist_ok=True)
    write_atomically(output / "refusals.json", report.model_dump_json(indent=2).encode())
    out.print(f"wrote {output / 'refusals.json'}")


def _locate(dataset: Path) -> tuple[Path, Path | None]:
    """The questions file and, for a dataset folder, its PDFs folder."""
    from core.errors import InvalidRequestError

    if dataset.is_file():
        return dataset, None
    if not (dataset / "questions.jsonl").is_file():
        raise InvalidRequestError(f"{dataset} is neither a questions file nor a folder with one")
    pdfs = dataset / "pdfs"
    return dataset / "questions.jsonl", pdfs if pdfs.is_dir() else None


def _ingest(kb, pdfs: Path, collection: str, skip: str | None = None) -> None:  # noqa: ANN001
    """Index the dataset's PDFs (but ``skip``); content hashes make a second run find them all
    present."""
    files = sorted(p for p in pdfs.glob("*.pdf") if p.name != skip)
    with _progress() as bar:
        task = bar.add_task(f"indexing {pdfs} into {collection!r}", total=len(files))
        for path in files:
            try:
                kb.ingest(path, collection)
            except IngestError as exc:
                console.print(f"[yellow]skipped {path.name}: {exc}[/yellow]")
            bar.advance(task)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
