"""``python -m benchmarks COMMAND ...``: the benchmarks' command line (``--help`` lists them).

``speed`` is ``kbqa bench``; ``make-dataset`` needs the test extras (fpdf2), so the ``kbqa``
command leaves it out."""

from __future__ import annotations

import typer

from benchmarks.boxes import boxes
from benchmarks.cli import speed
from benchmarks.embedders import embedders
from benchmarks.grow_api import grow_api
from benchmarks.lexical_engines import lexical_engines
from benchmarks.llm import llm
from benchmarks.load import load
from benchmarks.make_dataset import make_dataset
from benchmarks.milvus_parity import milvus_parity
from benchmarks.ocr_corpus import ocr_corpus
from benchmarks.ocr_eval import ocr_eval
from benchmarks.ocr_memory import ocr_memory
from benchmarks.scans import scans
from benchmarks.soak import soak
from benchmarks.speed.gpu import gpu
from benchmarks.translate_dataset import translate_dataset
from benchmarks.trial import trial, trial_corpus

app = typer.Typer(help="kbqa's benchmarks (docs/benchmarks.md).", no_args_is_help=True)
app.command("speed")(speed)
app.command("make-dataset")(make_dataset)
app.command("load")(load)
app.command("llm")(llm)
app.command("gpu")(gpu)
app.command("grow-api")(grow_api)
app.command("lexical-engines")(lexical_engines)
app.command("ocr")(ocr_eval)
app.command("ocr-corpus")(ocr_corpus)
app.command("ocr-memory")(ocr_memory)
app.command("scans")(scans)
app.command("soak")(soak)
app.command("milvus-parity")(milvus_parity)
app.command("embedders")(embedders)
app.command("boxes")(boxes)
app.command("trial-corpus")(trial_corpus)
app.command("trial")(trial)
app.command("translate-dataset")(translate_dataset)

if __name__ == "__main__":
    app(prog_name="python -m benchmarks")
