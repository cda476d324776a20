"""See the source: the original file, where a passage sits on its page, the page as an image."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from core.types import Document
from tests.api.conftest import AUTH, ORCHARD, REPORT, error_of, ingest, pdf


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _originals(settings: Settings) -> list[Path]:
    return [p for p in (settings.data_dir / "originals").rglob("*") if len(p.name) == 64]


def test_the_original_comes_back_byte_for_byte_with_its_type_and_name(
    client: TestClient,
) -> None:
    data = pdf(REPORT)
    (job,) = ingest(client, {"Water report – 1887.pdf": data})
    assert job.document is not None
    response = client.get(f"/documents/{job.document.id}/file")
    assert response.status_code == 200, response.text
    assert _sha256(response.content) == _sha256(data) == job.document.id
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Water report _ 1887.pdf"')
    assert "filename*=UTF-8''Water%20report%20%E2%80%93%201887.pdf" in disposition


def test_a_text_file_comes_back_as_text(client: TestClient) -> None:
    data = b"Plain notes about the orchard.\n"
    (job,) = ingest(client, {"notes.txt": data})
    assert job.document is not None
    response = client.get(f"/documents/{job.document.id}/file")
    assert response.content == data
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_one_copy_for_two_collections_deleted_with_the_last_document(
    client: TestClient, api_settings: Settings
) -> None:
    data = pdf(ORCHARD)
    ingest(client, {"orchard.pdf": data})
    (job,) = ingest(client, {"orchard-copy.pdf": data}, collection="other")
    assert job.document is not None
    doc_id = job.document.id
    assert [p.name for p in _originals(api_settings)] == [doc_id]
    assert client.delete(f"/documents/{doc_id}").status_code == 200
    assert client.get(f"/documents/{doc_id}/file").status_code == 404  # gone from this one
    kept = client.get(f"/documents/{doc_id}/file", params={"collection": "other"})
    assert _sha256(kept.content) == doc_id
    assert "orchard-copy.pdf" in kept.headers["content-disposition"]
    assert client.delete("/collections/other").status_code == 200
    assert _originals(api_settings) == []


def test_a_document_indexed_before_originals_were_kept_gets_a_clear_404(
    api_settings: Settings,
) -> None:
    with TestClient(create_app(api_settings), headers=AUTH) as client:
        (job,) = ingest(client, {"report.pdf": pdf(REPORT)})
    assert job.document is not None
    doc = job.document
    # As an older kbqa left it: the index holds the document, no original was kept.
    shutil.rmtree(api_settings.data_dir / "originals")
    with TestClient(create_app(api_settings), headers=AUTH) as client:
        assert Document.model_validate(client.get(f"/documents/{doc.id}").json()) == doc
        response = client.get(f"/documents/{doc.id}/file")
        assert response.status_code == 404
        assert "was not kept" in error_of(response)["message"]
        assert "report.pdf" in error_of(response)["message"]
        missing = client.get(f"/documents/{'0' * 64}/file")
        assert missing.status_code == 404
