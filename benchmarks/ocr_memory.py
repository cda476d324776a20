"""What one OCR engine's process needs in memory to read scanned pages.

Reads the first pages of a PDF in a fresh spawned process, as the isolated parser's OCR
processes do (one thread, pages rendered at the OCR resolution), and prints the process's
peak virtual size (VmPeak: what the parser's RLIMIT_AS limit counts) and peak resident size
(VmHWM), after loading the engine and after each page.

    python -m benchmarks ocr-memory build/bench/ocr/cmrc-zh/scans/cmrc-000.pdf --engine rapidocr
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Annotated

import pypdfium2
import typer

ENGINES = ("rapidocr", "tesseract")  # ingest.ocr.ENGINES, without importing it for --help


def _status() -> dict[str, int]:
    """VmPeak, VmHWM and VmRSS of this process, in MiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmPeak", "VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) // 1024
    return fields


def _measure(path: str, engine: str, pages: int, dpi: int, threads: int, runtime: str) -> list:
    import time

    from ingest.ocr import OcrOptions, load_engine, render

    rows: list[dict[str, object]] = [{"after": "start", **_status()}]
    ocr = load_engine(engine, OcrOptions(engine=engine, threads=threads, runtime=runtime))
    rows.append({"after": "load", **_status()})
    pdf = pypdfium2.PdfDocument(path)
    for i in range(min(pages, len(pdf))):
        image = render(pdf[i], dpi)
        start = time.perf_counter()
        chars = len(ocr.read(image))
        seconds = round(time.perf_counter() - start, 2)
        rows.append({"after": f"page {i + 1}", "pixels": list(image.size), "chars": chars})
        rows[-1] |= {"read_s": seconds}
        rows[-1] |= _status()
    pdf.close()
    return rows


def ocr_memory(
    pdf: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A scanned PDF.")],
    engine: Annotated[str, typer.Option(help=f"One of {', '.join(ENGINES)}.")] = "rapidocr",
    pages: Annotated[int, typer.Option(min=1, help="Pages read, from the first.")] = 3,
    dpi: Annotated[int, typer.Option(help="Resolution pages are rendered at.")] = 200,
    threads: Annotated[int, typer.Option(min=1, help="The engine's threads.")] = 1,
    runtime: Annotated[
        str, typer.Option(help="rapidocr's: auto, openvino or onnxruntime.")
    ] = "auto",
) -> None:
    """Peak virtual and resident memory of an OCR engine's process, page after page."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        rows = pool.apply(_measure, (str(pdf), engine, pages, dpi, threads, runtime))
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    typer.run(ocr_memory)
