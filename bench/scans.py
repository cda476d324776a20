"""Image-only copies of PDFs, as a scanner makes them: each page rendered to a greyscale image
at a given resolution and wrapped back into a PDF with no text layer (pdfium + Pillow)."""

from __future__ import annotations

import io

import pypdfium2
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
