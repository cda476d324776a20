"""``python -m bench COMMAND ...``: the benchmarks' command line (``--help`` lists them).

``speed`` is ``kbqa bench``; ``make-dataset`` needs the test extras (fpdf2), so the ``kbqa``
command leaves it out."""

from __future__ import annotations

import typer

from bench.boxes import boxes
from bench.cli import speed
from bench.grow_api import grow_api
from bench.lexical_engines import lexical_engines
from bench.load import load
from bench.make_dataset import make_dataset
from bench.milvus_parity import milvus_parity
from bench.ocr_corpus import ocr_corpus
from bench.ocr_eval import ocr_eval
from bench.ocr_memory import ocr_memory
from bench.scans import scans
from bench.speed.gpu import gpu

app = typer.Typer(help="kbqa's benchmarks (bench/README.md).", no_args_is_help=True)
app.command("speed")(speed)
app.command("make-dataset")(make_dataset)
app.command("load")(load)
app.command("gpu")(gpu)
app.command("grow-api")(grow_api)
app.command("lexical-engines")(lexical_engines)
app.command("ocr")(ocr_eval)
app.command("ocr-corpus")(ocr_corpus)
app.command("ocr-memory")(ocr_memory)
app.command("scans")(scans)
app.command("milvus-parity")(milvus_parity)
app.command("boxes")(boxes)

if __name__ == "__main__":
    app(prog_name="python -m bench")
