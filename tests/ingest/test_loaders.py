from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from core.errors import IngestError
from ingest.loaders import PdfLoader, loader_for
from tests.utils.pdfs import (
    make_corrupt_pdf,
    make_empty_file,
    make_encrypted_pdf,
    make_image_only_pdf,
    make_text_pdf,
    make_zero_page_pdf,
)


def _pages(path: Path, **kwargs: object) -> list:
    return loader_for(path.name, **kwargs).pages(path.read_bytes(), path.name)  # type: ignore[arg-type]


def test_pdf_pages_keep_their_numbers(tmp_path: Path) -> None:
    pdf = make_text_pdf(
        tmp_path / "a.pdf", ["First page about apples.", "Second page about pears."], font="core"
    )
    pages = _pages(pdf)
    assert [p.number for p in pages] == [1, 2]
    assert "apples" in pages[0].text
    assert "pears" in pages[1].text


def test_chinese_pdf_text_is_extracted(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "zh.pdf", ["北京是中华人民共和国的首都。"], font="cjk")
    pages = _pages(pdf)
    assert "北京是中华人民共和国的首都" in "".join(pages[0].text.split())


def _reason(path: Path, **kwargs: object) -> str:
    with pytest.raises(IngestError) as info:
        _pages(path, **kwargs)
    assert info.value.filename == path.name
    return info.value.reason


def test_encrypted_pdf_needs_the_password(tmp_path: Path) -> None:
    pdf = make_encrypted_pdf(
        tmp_path / "locked.pdf", "Secret plans for the harbour.", password="pw"
    )
    assert _reason(pdf) == "encrypted"
    pages = _pages(pdf, password="pw")
    assert "harbour" in pages[0].text


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (make_image_only_pdf, "needs_ocr"),
        (make_corrupt_pdf, "corrupt"),
        (make_empty_file, "empty"),
        (make_zero_page_pdf, "empty"),
    ],
)
def test_bad_pdfs_are_refused_with_a_reason(tmp_path: Path, build, reason: str) -> None:  # noqa: ANN001
    assert _reason(build(tmp_path / "bad.pdf")) == reason


def test_zip_renamed_to_pdf_is_named(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "hello")
    path = tmp_path / "archive.pdf"
    path.write_bytes(buf.getvalue())
    with pytest.raises(IngestError, match="ZIP archive"):
        _pages(path)


def test_unsupported_type_names_the_extension() -> None:
    with pytest.raises(IngestError, match=r"'\.xlsx'") as info:
        loader_for("report.xlsx")
    assert info.value.reason == "unsupported_type"


def test_too_many_pages_is_refused(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "long.pdf", [f"Page {i}." for i in range(5)], font="core")
    with pytest.raises(IngestError) as info:
        PdfLoader(max_pages=3).pages(pdf.read_bytes(), pdf.name)
    assert info.value.reason == "too_large"


def test_text_and_markdown(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text("# Title\n\nSome notes\nthat wrap.\fPage two.", encoding="utf-8")
    pages = _pages(md)
    assert [p.text for p in pages] == ["# Title\n\nSome notes that wrap.", "Page two."]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    assert _reason(bad) == "unsupported_type"
