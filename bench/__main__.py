"""``python -m bench speed|load|gpu|make-dataset|ocr|ocr-corpus|ocr-memory|scans ...``: the
benchmarks' command line.

``speed`` is ``kbqa bench``; ``make-dataset`` needs the test extras (fpdf2), so the ``kbqa``
command leaves it out. ``load`` and ``gpu`` keep their own option parsers (``--help`` shows
them): ``load --seed-files`` takes several files after one flag, which typer options cannot."""

from __future__ import annotations

import typer

from bench.cli import speed
from bench.make_dataset import make_dataset
from bench.ocr_corpus import ocr_corpus
from bench.ocr_eval import ocr_eval
from bench.ocr_memory import ocr_memory
from bench.scans import scans

app = typer.Typer(help="kbqa's benchmarks (bench/README.md).", no_args_is_help=True)
app.command("speed")(speed)
app.command("make-dataset")(make_dataset)
app.command("ocr")(ocr_eval)
app.command("ocr-corpus")(ocr_corpus)
app.command("ocr-memory")(ocr_memory)
app.command("scans")(scans)


@app.command(
    "load",
    add_help_option=False,  # --help reaches load's own parser, which lists its options
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def load(ctx: typer.Context) -> None:
    """API throughput and latency with N concurrent clients (`load --help`: its options)."""
    from bench.load import main

    raise typer.Exit(code=main(ctx.args))


@app.command(
    "gpu",
    add_help_option=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def gpu(ctx: typer.Context) -> None:
    """The GPU figures, or what was skipped and why (`gpu --help`; also bench/gpu.sh)."""
    from bench.speed.gpu import main

    main(ctx.args)


if __name__ == "__main__":
    app(prog_name="python -m bench")
