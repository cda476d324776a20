"""``kbqa index export`` and ``kbqa index import``: move an index, e.g. a local one into Milvus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.answers import console, out
from core.types import Document

app = typer.Typer(
    help="Move an index to a file and back: `export` from one backend, `import` into another "
    "(KBQA_INDEX__BACKEND picks it).",
    no_args_is_help=True,
)
File = Annotated[Path, typer.Argument(help="The export file (gzipped JSON lines).")]


def _shown(doc: Document) -> None:
    console.print(f"  {doc.collection}/{doc.filename} ({doc.chunks} chunks)")


@app.command("export")
def export(path: File) -> None:
    """Write every document of the index, with its chunks and vectors, to a file."""
    from kbqa.app import KBQA

    with KBQA() as kb:
        moved = kb.export_index(path, _shown)
    out.print(f"exported {moved.documents} documents ({moved.chunks} chunks) to {path}")


@app.command("import")
def import_(path: File) -> None:
    """Add the documents of an export file to the index (those it holds already are skipped)."""
    from kbqa.app import KBQA

    if not path.is_file():
        raise typer.BadParameter(f"no file {path}")
    with KBQA() as kb:
        moved = kb.import_index(path, _shown)
    out.print(
        f"imported {moved.documents} documents ({moved.chunks} chunks) from {path}; "
        f"{moved.skipped} already there"
    )
