"""The real-world PDFs that were refused as scans (``needs_ocr``): what OCR makes of them.

Reads every PDF given (or under the folders given: tests/e2e/test_corpora.py fetches pypdf's
and OCRmyPDF's test files into build/corpora) in the isolated parser, with the limits that
test uses, first with OCR off, then the ``needs_ocr`` ones again with the default OCR engines.

    python -m benchmarks ocr-corpus build/corpora/pypdf build/corpora/ocrmypdf
    python -m benchmarks ocr-corpus build/corpora/pypdf/poster.pdf   # one file again
    python -m benchmarks ocr-corpus scan.pdf --ocr-workers 1 --ocr-threads 2   # time set-ups
"""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # `python -m benchmarks --help` need not load the parser
    from core.settings import IngestSettings
    from ingest.isolation import IsolatedParser


def parser(settings: IngestSettings, ocr: bool) -> IsolatedParser:
    from ingest.isolation import IsolatedParser
    from ingest.loaders import OcrOptions
    from ingest.pipeline import ocr_options

    options = ocr_options(settings) if ocr else OcrOptions(engine=None)
    return IsolatedParser(
        settings.parse_timeout_s,
        settings.parse_memory_mb,
        max_pages=settings.max_pages,
        workers=settings.parse_workers,
        ocr=options,
        ocr_page_timeout_s=settings.ocr_page_timeout_s,
        ocr_memory_mb=settings.ocr_memory_mb,
    )


def outcome(reader: IsolatedParser, path: Path) -> dict[str, object]:
    from core.errors import IngestError

    start = time.perf_counter()
    pages_ocr: list[int] = []
    try:
        pages = reader.pages(path.read_bytes(), path.name, lambda _, total: pages_ocr.append(total))
        result: dict[str, object] = {
            "outcome": "indexed",
            "pages": len(pages),
            "chars": sum(len(p.text) for p in pages),
        }
    except IngestError as exc:
        result = {"outcome": exc.reason, "detail": exc.detail}
    result["pages_ocr"] = pages_ocr[-1] if pages_ocr else 0
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def ocr_corpus(
    sources: Annotated[list[Path], typer.Argument(exists=True, help="PDFs, or folders of them.")],
    json_path: Annotated[Path, typer.Option("--json", help="Where the report goes.")] = Path(
        "build/bench/ocr-corpus.json"
    ),
    page_timeout: Annotated[float, typer.Option(help="OCR seconds per page allowed.")] = 120,
    ocr_workers: Annotated[int, typer.Option(min=1, help="OCR processes side by side.")] = 2,
    ocr_threads: Annotated[int, typer.Option(min=1, help="Threads of each.")] = 1,
) -> None:
    """Which real-world PDFs OCR turns from needs_ocr into indexed, and what the rest are."""
    from core.settings import IngestSettings
    from ingest.ocr import pick_engine

    settings = IngestSettings(
        parse_timeout_s=300,
        parse_memory_mb=1024,
        ocr_page_timeout_s=page_timeout,
        ocr_workers=ocr_workers,
        ocr_threads=ocr_threads,
    )
    if pick_engine(settings.ocr_engines, settings.ocr_languages) is None:
        raise typer.BadParameter("no OCR engine is installed (make ocr)")
    paths = sorted(
        {p for source in sources for p in (source.rglob("*.pdf") if source.is_dir() else [source])}
    )
    plain = parser(settings, ocr=False)
    scans = [path for path in paths if outcome(plain, path)["outcome"] == "needs_ocr"]
    plain.close()
    print(f"{len(scans)} of {len(paths)} PDFs refused as needs_ocr without OCR", flush=True)
    reader = parser(settings, ocr=True)
    report = {}
    for path in scans:
        report[str(path)] = outcome(reader, path)
        print(path.name, json.dumps(report[str(path)], ensure_ascii=False), flush=True)
    reader.close()
    counts = collections.Counter(str(r["outcome"]) for r in report.values())
    print("with OCR:", dict(counts))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    typer.run(ocr_corpus)
