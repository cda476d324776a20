from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import IngestError
from index.knowledge import KnowledgeIndex
from ingest.pipeline import Ingestor, Progress
from tests.utils.pdfs import make_corrupt_pdf, make_text_pdf

TEXT = "The harbour opened in 1850. " * 30


def test_same_content_is_indexed_once(
    tmp_path: Path, ingestor: Ingestor, index: KnowledgeIndex
) -> None:
    a = tmp_path / "a.txt"
    a.write_text(TEXT)
    b = tmp_path / "copy-of-a.txt"
    b.write_text(TEXT)
    first = ingestor.ingest_path(a, "default")
    second = ingestor.ingest_path(b, "default")
    assert first.created
    assert not second.created
    assert second.document.id == first.document.id
    assert len(index.documents()) == 1
    # Another collection is another knowledge base: the file is indexed there too.
    assert ingestor.ingest_path(b, "other").created


def test_progress_reports_every_stage(tmp_path: Path, ingestor: Ingestor) -> None:
    pdf = make_text_pdf(tmp_path / "p.pdf", [TEXT, TEXT.replace("1850", "1851")], font="core")
    events: list[Progress] = []
    result = ingestor.ingest_path(pdf, "default", progress=events.append)
    stages = [e.stage for e in events]
    assert stages[:2] == ["parsed", "chunked"]
    assert stages[-1] == "embedded"
    assert events[0].done == 2
    assert events[-1].done == events[-1].total == result.document.chunks


def test_bad_file_leaves_the_index_as_it_was(
    tmp_path: Path, ingestor: Ingestor, index: KnowledgeIndex
) -> None:
    good = tmp_path / "good.txt"
    good.write_text(TEXT)
    ingestor.ingest_path(good, "default")
    before = (index.documents(), index.lexical_search("default", "harbour", 10))
    with pytest.raises(IngestError):
        ingestor.ingest_path(make_corrupt_pdf(tmp_path / "bad.pdf"), "default")
    assert (index.documents(), index.lexical_search("default", "harbour", 10)) == before


def test_filename_is_a_label_not_a_path(ingestor: Ingestor, index: KnowledgeIndex) -> None:
    result = ingestor.ingest_bytes(TEXT.encode(), "../../etc/evil.txt", "default")
    assert result.document.filename == "evil.txt"


def test_file_size_limit(ingestor: Ingestor) -> None:
    ingestor.settings.max_file_mb = 0.001
    with pytest.raises(IngestError) as info:
        ingestor.ingest_bytes(b"x" * 5000, "big.txt", "default")
    assert info.value.reason == "too_large"
