"""``python -m bench speed|load|make-dataset ...``: the benchmarks' command line.

``speed`` is ``kbqa bench``; ``load`` and ``make-dataset`` need the test extras (httpx load
clients, fpdf2), so the ``kbqa`` command leaves them out."""

from __future__ import annotations

import typer

from bench.cli import speed
from bench.load import main as load_main
from bench.make_dataset import make_dataset

app = typer.Typer(help="kbqa's benchmarks (bench/README.md).", no_args_is_help=True)
app.command("speed")(speed)
app.command("make-dataset")(make_dataset)


@app.command(
    "load",
    add_help_option=False,  # --help reaches load's own parser, which lists its options
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def load(ctx: typer.Context) -> None:
    """API throughput and latency with N concurrent clients (`load --help`: its options)."""
    raise typer.Exit(code=load_main(ctx.args))


if __name__ == "__main__":
    app(prog_name="python -m bench")
