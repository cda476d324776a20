"""Builders for PDF test fixtures: text, CJK, encrypted, scanned, corrupt, empty, zero-page.

Every builder writes to ``path`` (parent folders are created) and returns ``path``. Output is
deterministic (fixed creation date), so fixtures can be hashed.

Fonts: ``"dejavu"`` needs the Debian package ``fonts-dejavu-core``, ``"cjk"`` needs
``fonts-wqy-microhei``; ``"core"`` uses the PDF built-in Helvetica (Latin-1 only) and needs no
system font.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Literal

from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos
from pypdf import PdfReader, PdfWriter

FontName = Literal["dejavu", "cjk", "core"]

DEJAVU_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CJK_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
FIXED_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
MARGIN_MM = 20.0
BODY_SIZE_PT = 11.0
MIN_SIZE_PT = 4.0
LINE_SPACING = 1.3
PT_TO_MM = 25.4 / 72


class FontUnavailableError(RuntimeError):
    """Raised when the system font a builder needs is not installed."""


# --------------------------------------------------------------------------- fonts


def font_path(font: FontName) -> Path | None:
    """Return the TTF/TTC file for ``font`` (None for the built-in ``"core"`` font).

    Raises:
        FontUnavailableError: If the font is not installed; the message names the Debian package.
        ValueError: If ``font`` is not a known name.
    """
    if font == "core":
        return None
    if font == "dejavu":
        if DEJAVU_PATH.is_file():
            return DEJAVU_PATH
        raise FontUnavailableError(
            f"{DEJAVU_PATH} is missing: apt-get install -y fonts-dejavu-core"
        )
    if font == "cjk":
        return _find_cjk_font()
    raise ValueError(f"unknown font {font!r}; use 'dejavu', 'cjk' or 'core'")


def _find_cjk_font() -> Path:
    for path in CJK_CANDIDATES:
        if path.is_file():
            return path
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        out = ""
    for line in sorted(out.splitlines()):
        path = Path(line.split(":")[0].strip())
        if path.suffix.lower() in {".ttf", ".ttc", ".otf"}:
            return path
    raise FontUnavailableError("no CJK font found: apt-get install -y fonts-wqy-microhei")


def _new_pdf(font: FontName | None) -> FPDF:
    """Return an A4 FPDF with fixed metadata and ``font`` selected (no font if None)."""
    pdf = FPDF(format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=MARGIN_MM)
    pdf.set_creation_date(FIXED_DATE)
    if font is None:
        return pdf
    path = font_path(font)
    if path is None:
        pdf.set_font("Helvetica", size=BODY_SIZE_PT)
    else:
        pdf.add_font("body", fname=str(path))
        pdf.set_font("body", size=BODY_SIZE_PT)
    return pdf


def _write(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- text PDFs


def text_pdf_bytes(pages: list[str], *, font: FontName = "dejavu") -> bytes:
    """Render ``pages`` as PDF bytes, one page per string (see :func:`make_text_pdf`)."""
    pdf = _new_pdf(font)
    wrap = WrapMode.CHAR if font == "cjk" else WrapMode.WORD
    for text in pages:
        pdf.add_page()
        size = _fitting_size(pdf, text, wrap)
        pdf.set_font_size(size)
        pdf.multi_cell(
            0,
            _line_height(size),
            text,
            align=Align.L,
            wrapmode=wrap,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    return bytes(pdf.output())


def make_text_pdf(path: Path, pages: list[str], *, font: FontName = "dejavu") -> Path:
    """Write a PDF with a real text layer, one page per string of ``pages``.

    Text is wrapped by fpdf2 (word wrap; character wrap for ``"cjk"``) on A4 with 20 mm margins.
    Each string is set at 11 pt; when it would not fit on one page, the font size is reduced
    step by step (down to 4 pt) so the string stays on a single page. Only a string too long even
    at 4 pt overflows onto extra pages. An empty string gives a blank page.

    Args:
        path: Output file.
        pages: Text of each page.
        font: ``"dejavu"`` (DejaVuSans, most scripts but not CJK), ``"cjk"`` (WenQuanYi Micro
            Hei, Chinese plus Latin) or ``"core"`` (built-in Helvetica, Latin-1 only: other
            characters raise an fpdf2 error).

    Returns:
        ``path``.
    """
    return _write(path, text_pdf_bytes(pages, font=font))


def _line_height(size_pt: float) -> float:
    return size_pt * PT_TO_MM * LINE_SPACING


def _fitting_size(pdf: FPDF, text: str, wrap: WrapMode) -> float:
    """Return the largest size from 11 pt down to 4 pt at which ``text`` fits on one page."""
    usable = pdf.h - pdf.t_margin - pdf.b_margin
    size = BODY_SIZE_PT
    while size > MIN_SIZE_PT:
        pdf.set_font_size(size)
        lines = pdf.multi_cell(
            0, _line_height(size), text, wrapmode=wrap, dry_run=True, output="LINES"
        )
        if len(lines) * _line_height(size) <= usable:
            return size
        size -= 0.5
    return MIN_SIZE_PT


def make_encrypted_pdf(
    path: Path, text: str, password: str = "secret", *, font: FontName = "core"
) -> Path:
    """Write a one-page text PDF encrypted with AES-256 (user and owner password ``password``).

    The default font is the built-in Helvetica so the fixture needs no system font.
    """
    reader = PdfReader(io.BytesIO(text_pdf_bytes([text], font=font)))
    writer = PdfWriter(clone_from=reader)
    writer.encrypt(user_password=password, owner_password=password, algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return _write(path, buffer.getvalue())


# --------------------------------------------------------------------------- scanned page


def make_image_only_pdf(path: Path) -> Path:
    """Write a one-page PDF that holds only a raster image and no text layer at all.

    The image (pure-Python PNG) shows grey bars laid out like lines of a scanned text page, so
    text extraction returns nothing and the page would need OCR.
    """
    pdf = _new_pdf(None)
    pdf.add_page()
    width_mm = pdf.w - 2 * MARGIN_MM
    pdf.image(io.BytesIO(_scan_png()), x=MARGIN_MM, y=MARGIN_MM, w=width_mm)
    return _write(path, bytes(pdf.output()))


def _scan_png(width: int = 850, height: int = 1100) -> bytes:
    """Return a greyscale PNG of a fake scanned page: white paper with dark text-line bars."""
    paper = b"\x00" + bytes([250]) * width  # each scanline: filter byte 0, then pixels
    rows = []
    for y in range(height):
        line_no, in_line = divmod(y - 60, 36)
        if 0 <= y - 60 < height - 120 and in_line < 14:
            rows.append(_bar_row(width, width - 60 - (line_no * 97) % 260))
        else:
            rows.append(paper)
    return _png(width, height, b"".join(rows))


def _bar_row(width: int, length: int) -> bytes:
    """Return one scanline with a dark bar of ``length`` pixels broken into "words"."""
    pixels = bytes(40 if 30 <= x < 30 + length and (x // 7) % 9 else 250 for x in range(width))
    return b"\x00" + pixels


def _png(width: int, height: int, raw: bytes) -> bytes:
    """Encode filtered 8-bit greyscale scanlines ``raw`` as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- broken inputs


def make_corrupt_pdf(path: Path) -> Path:
    """Write a file that starts like a PDF (``%PDF-1.7``) but is garbage and truncated.

    It has no cross-reference table, no trailer and no ``%%EOF``; the page tree is cut off.
    """
    garbage = bytes((i * 73 + 41) % 256 for i in range(512))
    data = (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R\nstream\n" + garbage
    )
    return _write(path, data)


def make_empty_file(path: Path) -> Path:
    """Write a zero-byte file (e.g. named ``.pdf``)."""
    return _write(path, b"")


def make_zero_page_pdf(path: Path) -> Path:
    """Write a structurally valid PDF whose page tree has no pages (pypdf ``PdfWriter``)."""
    buffer = io.BytesIO()
    PdfWriter().write(buffer)
    return _write(path, buffer.getvalue())


# --------------------------------------------------------------------------- hostile files


def decompression_bomb_pdf(expanded_mb: int = 1024) -> bytes:
    """A one-page PDF whose content stream is ~1 MiB of zlib that inflates to ``expanded_mb``."""
    packer = zlib.compressobj(9)
    block = b" " * 2**20
    stream = b"".join(packer.compress(block) for _ in range(expanded_mb)) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 << /Type /Font /Subtype /Type1"
        b" /BaseFont /Helvetica >> >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def truncated_pdf(data: bytes) -> bytes:
    """The first half of a PDF, as an interrupted download leaves it."""
    return data[: len(data) // 2]
