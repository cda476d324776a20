"""Real-world and hostile files (PDFs, Office files, web pages) through the API: each is
indexed or refused with a reason, the server stays up, and the documents it already had
answer exactly as before.

The corpora come from the package registries at set-up (cached in build/corpora): the test
files of pypdf's and OCRmyPDF's source distributions, and R's 2,415-page reference manual
from Debian's r-doc-pdf. A summary table is written to build/corpora/report.md.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.api.conftest import AUTH, KEY, REPORT, ingest, pdf, wait, wait_ready
from tests.utils.office import corrupt_docx, encrypted_docx, zip_bomb_docx
from tests.utils.pdfs import decompression_bomb_pdf, text_pdf_bytes, truncated_pdf

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "corpora"
SDISTS = ("pypdf==7.1.0", "ocrmypdf==17.13.0")
REASONS = {
    "encrypted",
    "corrupt",
    "empty",
    "needs_ocr",
    "unsupported_type",
    "too_large",
    "too_slow",
}
# Hostile Office files and web pages, and how each is refused.
OFFICE_HOSTILE = {
    "bomb.docx": "refused at upload: too_large",
    "locked.docx": "refused at upload: encrypted",
    "cut.docx": "refused at upload: corrupt",
    "cut.pptx": "refused at upload: corrupt",
    "pdf-renamed.pptx": "refused at upload: corrupt",
    "binary.html": "refused at upload: corrupt",
}
QUESTIONS = ["When was the Elmstead reservoir completed?", "Who was the engineer?", "dam height"]


def _fetch() -> dict[str, list[Path]]:
    """PDF files by corpus, downloaded once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    corpora: dict[str, list[Path]] = {}
    for spec in SDISTS:
        name = spec.split("==")[0]
        unpacked = CACHE / name
        if not unpacked.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                 "--no-binary", ":all:", spec, "-d", str(CACHE / "sdists")],
                check=True,
            )  # fmt: skip
            archive = next((CACHE / "sdists").glob(f"{name}-*.tar.gz"))
            shutil.unpack_archive(archive, unpacked)
        corpora[name] = sorted(unpacked.rglob("*.pdf"))
    refman = CACHE / "r-doc-pdf" / "refman.pdf"
    if not refman.exists() and shutil.which("apt-get") and shutil.which("dpkg-deb"):
        debs = CACHE / "debs"
        debs.mkdir(exist_ok=True)
        subprocess.run(["apt-get", "download", "r-doc-pdf"], cwd=debs, check=False)
        for deb in debs.glob("r-doc-pdf_*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(debs / "x")], check=True)
            refman.parent.mkdir(exist_ok=True)
            shutil.copy(next((debs / "x").rglob("refman.pdf")), refman)
    corpora["r-doc-pdf"] = [refman] if refman.exists() else []
    return corpora


def _hostile() -> dict[str, bytes]:
    good = text_pdf_bytes(["A page of text about reservoirs."] * 3, font="core")
    zero_pages = (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return {
        "empty.pdf": b"",
        "truncated.pdf": truncated_pdf(good),
        "zip-renamed.pdf": b"PK\x03\x04" + b"\x00" * 200,
        "bomb.pdf": decompression_bomb_pdf(expanded_mb=1500),
        "zero-pages.pdf": zero_pages,
        "not-utf8.txt": b"\xff\xfe\xfa binary",
        "bomb.docx": zip_bomb_docx(expanded_mb=1500),
        "locked.docx": encrypted_docx(),
        "cut.docx": corrupt_docx(),
        "cut.pptx": corrupt_docx(),
        "pdf-renamed.pptx": good,
        "binary.html": b"\x00\x01binary\x00" * 50,
    }


def _outcome(client: TestClient, name: str, data: bytes) -> str:
    files = [("files", (name, data, "application/octet-stream"))]
    response = client.post("/documents", params={"collection": "corpus"}, files=files)
    if response.status_code != 202:
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
        reason = response.json()["error"]["detail"]["reason"]
        assert reason in REASONS, (name, reason)
        return f"refused at upload: {reason}"
    job = wait(client, _job(response), timeout=900)
    if job.state == "succeeded":
        return "indexed"
    assert job.error is not None, job
    assert job.error.reason in REASONS, (name, job.error)
    return f"refused by its job: {job.error.reason}"


def _job(response):  # noqa: ANN001, ANN202
    from core.types import Job

    return Job.model_validate(response.json()["jobs"][0])


def test_every_file_is_indexed_or_refused_and_nothing_else_changes(tmp_path: Path) -> None:
    corpora = {**_fetch(), "hostile": []}
    settings = Settings(
        data_dir=tmp_path / "data",
        embedding={"backend": "fake"},
        llm={"backend": "fake"},
        ingest={"parse_timeout_s": 300, "parse_memory_mb": 1024},
        api={"keys": [KEY]},
    )
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    seen: dict[str, str] = {}
    with TestClient(create_app(settings), headers=AUTH) as client:
        wait_ready(client)
        ingest(client, {"report.pdf": pdf(REPORT)}, collection="team")
        before = [_search(client, q) for q in QUESTIONS]
        for corpus, paths in corpora.items():
            files = {p.name: p.read_bytes() for p in paths} if paths else {}
            if corpus == "hostile":
                files = _hostile()
            for name, data in files.items():
                started = time.monotonic()
                seen[name] = _outcome(client, name, data)
                outcomes[corpus][seen[name]] += 1
                assert time.monotonic() - started < 900, f"{name} hung"
        assert client.get("/health").status_code == 200
        assert [_search(client, q) for q in QUESTIONS] == before
        assert client.app.state.kbqa.index.verify() == []  # type: ignore[attr-defined]
    _report(outcomes)
    assert {name: seen[name] for name in OFFICE_HOSTILE} == OFFICE_HOSTILE
    assert sum(outcomes["pypdf"].values()) > 50
    assert sum(outcomes["ocrmypdf"].values()) > 30


def _search(client: TestClient, query: str) -> list[tuple[str, int, float]]:
    hits = client.post("/search", json={"query": query, "collection": "team"}).json()["hits"]
    return [(h["chunk"]["text"], h["chunk"]["page_start"], round(h["score"], 6)) for h in hits]


def _report(outcomes: dict[str, collections.Counter[str]]) -> None:
    lines = ["| corpus | files | outcome |", "|---|---|---|"]
    for corpus, counts in outcomes.items():
        detail = ", ".join(f"{n} {what}" for what, n in counts.most_common())
        lines.append(f"| {corpus} | {sum(counts.values())} | {detail} |")
    (CACHE / "report.md").write_text("\n".join(lines) + "\n")
