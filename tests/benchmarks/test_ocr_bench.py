"""The OCR benchmarks' command line: scanned copies have no text layer, bad names are refused."""

from __future__ import annotations

from pathlib import Path

import pypdfium2
from typer.testing import CliRunner

from benchmarks.__main__ import app
from ingest.ocr import has_images
from tests.utils.pdfs import make_text_pdf


def test_scans_writes_image_only_copies_with_the_same_pages(tmp_path: Path) -> None:
    make_text_pdf(tmp_path / "in" / "a.pdf", ["First page text.", "Second page text."])
    result = CliRunner().invoke(app, ["scans", str(tmp_path / "in"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    pdf = pypdfium2.PdfDocument(tmp_path / "out" / "a.pdf")
    try:
        assert len(pdf) == 2
        assert all(not page.get_textpage().get_text_bounded().strip() for page in pdf)
        assert all(has_images(page) for page in pdf)
    finally:
        pdf.close()


def test_ocr_refuses_an_unknown_set_or_version_by_name(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["ocr", "--sets", "squad-en,klingon", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "klingon" in result.output
    result = runner.invoke(app, ["ocr", "--versions", "easyocr", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "easyocr" in result.output
