"""``python -m benchmarks boxes [PDF ...]``: what keeping boxes costs and how exact they are.

For each PDF (default: samples/*.pdf): the time pdfium takes to place every character (what
ingestion adds per page), the share of chunks that get boxes, the share whose boxes, read back
through pdfium, hold exactly the chunk's letters, and the bytes the boxes add per chunk.
"""

from __future__ import annotations

import time
from pathlib import Path

import pypdfium2
import typer

from core.settings import IngestSettings
from core.types import Chunk, ParsedDocument
from index.store import boxes_json
from ingest.boxes import chunk_boxes, letters, pdf_lines, text_under
from ingest.chunking import Chunker
from ingest.loaders import PdfLoader

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def measure(path: Path, chunker: Chunker) -> dict[str, float]:
    """The figures of one PDF."""
    data = path.read_bytes()
    start = time.perf_counter()
    pages = PdfLoader().pages(data, path.name)
    parsing = time.perf_counter() - start
    pdf = pypdfium2.PdfDocument(data)
    start = time.perf_counter()
    for page in pdf:
        pdf_lines(page)
    placing = time.perf_counter() - start
    pdf.close()
    parsed = ParsedDocument(id="x", filename=path.name, kind="pdf", size_bytes=len(data),
                            pages=pages)  # fmt: skip
    chunks = chunk_boxes(chunker.split(parsed), pages)
    exact = [c for c in chunks if c.boxes and _exact(data, c)]
    boxed = [c for c in chunks if c.boxes]
    return {
        "pages": len(pages),
        "chunks": len(chunks),
        "parse_ms_per_page": 1000 * parsing / len(pages),
        "ms_per_page": 1000 * placing / len(pages),
        "boxed_pct": 100 * len(boxed) / max(len(chunks), 1),
        "exact_pct": 100 * len(exact) / max(len(chunks), 1),
        "box_bytes_per_chunk": sum(len(boxes_json(c.boxes) or "") for c in chunks)
        / max(len(chunks), 1),
        "text_bytes_per_chunk": sum(len(c.text.encode()) for c in chunks) / max(len(chunks), 1),
    }


def _exact(data: bytes, chunk: Chunk) -> bool:
    return letters(text_under(data, chunk.boxes)) == letters(chunk.text)


def boxes(pdfs: list[Path] = typer.Argument(None, help="PDFs (default: samples/*.pdf).")) -> None:  # noqa: B008
    """Chunks' boxes on PDFs: the time to place the characters, coverage, exactness, size."""
    settings = IngestSettings()
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
    header = ("file", "pages", "chunks", "parse ms/page", "of which boxes", "boxed %",
              "exact %", "box B/chunk", "text B/chunk")  # fmt: skip
    print(" | ".join(header))
    for path in pdfs or sorted(SAMPLES.glob("*.pdf")):
        m = measure(path, chunker)
        print(
            f"{path.name} | {m['pages']:.0f} | {m['chunks']:.0f} | "
            f"{m['parse_ms_per_page']:.1f} | {m['ms_per_page']:.1f} | "
            f"{m['boxed_pct']:.1f} | {m['exact_pct']:.1f} | {m['box_bytes_per_chunk']:.0f} | "
            f"{m['text_bytes_per_chunk']:.0f}"
        )
