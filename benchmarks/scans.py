"""Image-only copies of PDFs, as a scanner makes them: each page rendered to a greyscale image
at a given resolution and wrapped back into a PDF with no text layer (pdfium + Pillow).

    python -m benchmarks scans evaluation/data/squad-en/pdfs build/scans --dpi 150
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import pypdfium2
import typer
from PIL import Image


def scan_pdf(data: bytes, dpi: int = 150, quality: int = 85) -> bytes:
    """The PDF ``data`` as a scan: one JPEG-compressed greyscale image per page, no text."""
    pdf = pypdfium2.PdfDocument(data)
    try:
        images: list[Image.Image] = [
            page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for page in pdf
        ]
    finally:
        pdf.close()
    out = io.BytesIO()
    images[0].save(
        out, "PDF", save_all=True, append_images=images[1:], resolution=dpi, quality=quality
    )
    return out.getvalue()


def scan_folder(pdfs: list[Path], folder: Path, dpi: int = 150) -> list[Path]:
    """Scanned copies of ``pdfs`` in ``folder``, same names; ones already there are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in pdfs:
        target = folder / path.name
        if not target.exists():
            target.write_bytes(scan_pdf(path.read_bytes(), dpi=dpi))
    return [folder / path.name for path in pdfs]


def scans(
    source: Annotated[Path, typer.Argument(exists=True, help="A PDF or a folder of PDFs.")],
    out: Annotated[Path, typer.Argument(help="Folder the image-only copies are written to.")],
    dpi: Annotated[int, typer.Option(min=36, max=600, help="Resolution of the images.")] = 150,
) -> None:
    """Write image-only ("scanned") copies of PDFs: greyscale JPEG pages, no text layer."""
    pdfs = sorted(source.glob("*.pdf")) if source.is_dir() else [source]
    for path in scan_folder(pdfs, out, dpi):
        print(path)


if __name__ == "__main__":
    typer.run(scans)
