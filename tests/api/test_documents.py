from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.schemas import DocumentList, JobList, SearchResponse
from core.types import Document, Job
from tests.api.conftest import AUTH, ORCHARD, REPORT, error_of, ingest, pdf, upload, wait
from tests.utils.office import docx_bytes, encrypted_docx, pptx_bytes
from tests.utils.pdfs import make_corrupt_pdf, make_encrypted_pdf


def test_upload_returns_jobs_that_report_progress_and_the_document(client: TestClient) -> None:
    jobs = upload(client, {"report.pdf": pdf(REPORT), "orchard.pdf": pdf(ORCHARD)})
    assert [j.filename for j in jobs] == ["report.pdf", "orchard.pdf"]
    assert all(j.state in ("queued", "running") for j in jobs)
    done = [wait(client, j) for j in jobs]
    assert [j.state for j in done] == ["succeeded", "succeeded"]
    report = done[0]
    assert report.pages_parsed == 3
    assert report.chunks_embedded == report.chunks_total > 0
    assert report.document is not None
    assert report.document.pages == 3
    listed = DocumentList.model_validate(client.get("/documents").json()).documents
    assert {d.filename for d in listed} == {"report.pdf", "orchard.pdf"}


def test_get_and_delete_a_document(loaded: TestClient) -> None:
    doc = DocumentList.model_validate(loaded.get("/documents").json()).documents[0]
    assert Document.model_validate(loaded.get(f"/documents/{doc.id}").json()) == doc
    assert Document.model_validate(loaded.delete(f"/documents/{doc.id}").json()) == doc
    response = loaded.get(f"/documents/{doc.id}")
    assert response.status_code == 404
    assert doc.id in error_of(response)["message"]
    assert loaded.post("/search", json={"query": "reservoir"}).json()["hits"] == []


def test_the_same_content_is_indexed_once(loaded: TestClient) -> None:
    (job,) = ingest(loaded, {"copy-of-report.pdf": pdf(REPORT)})
    assert job.duplicate
    assert len(loaded.get("/documents").json()["documents"]) == 1


def test_a_broken_file_is_refused_with_its_name_and_nothing_is_queued(
    client: TestClient, tmp_path
) -> None:  # noqa: ANN001
    broken = make_corrupt_pdf(tmp_path / "broken.pdf").read_bytes()
    files = [
        ("files", ("good.pdf", pdf(REPORT), "application/pdf")),
        ("files", ("broken.pdf", broken, "application/pdf")),
    ]
    response = client.post("/documents", files=files)
    assert response.status_code == 422
    error = error_of(response)
    assert error["detail"] == {"filename": "broken.pdf", "reason": "corrupt"}
    assert "broken.pdf" in error["message"]
    assert JobList.model_validate(client.get("/jobs").json()).jobs == []


def test_encrypted_unsupported_and_oversized_files_get_their_own_status(
    client: TestClient, tmp_path
) -> None:  # noqa: ANN001
    locked = make_encrypted_pdf(tmp_path / "locked.pdf", "Secret minutes.").read_bytes()
    cases = [
        ("locked.pdf", locked, 422, "encrypted"),
        ("sheet.xlsx", b"PK\x03\x04 not supported", 415, "unsupported_type"),
        ("notes.docx", b"PK\x03\x04 broken", 422, "corrupt"),
        ("locked.docx", encrypted_docx(), 422, "encrypted"),
        ("huge.pdf", b"%PDF-1.7\n" + b"0" * (2 * 2**20), 413, "too_large"),
        ("empty.pdf", b"", 422, "empty"),
    ]
    for name, data, status, reason in cases:
        response = client.post("/documents", files=[("files", (name, data, "application/pdf"))])
        assert response.status_code == status, name
        assert error_of(response)["detail"]["reason"] == reason


def test_too_many_files_in_one_upload(client: TestClient) -> None:
    files = [("files", (f"f{i}.txt", f"text {i}".encode(), "text/plain")) for i in range(4)]
    response = client.post("/documents", files=files)
    assert response.status_code == 413
    assert "4 files" in error_of(response)["message"]


def test_a_request_body_over_the_limit_is_413(api_settings, tmp_path) -> None:  # noqa: ANN001

    settings = api_settings.model_copy(
        update={"api": api_settings.api.model_copy(update={"max_request_mb": 0.5})}
    )
    with TestClient(create_app(settings, warm_up=False), headers=AUTH) as small:
        data = b"x" * 2**20
        response = small.post("/documents", files=[("files", ("big.txt", data, "text/plain"))])
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


def test_without_ocr_a_scan_fails_in_its_job_saying_how_to_enable_it(
    scan_without_ocr: tuple[TestClient, Job],
) -> None:
    client, done = scan_without_ocr
    assert done.state == "failed"
    assert done.error is not None
    assert done.error.reason == "needs_ocr"
    assert "pip install rapidocr-onnxruntime" in done.error.message
    assert client.get("/documents").json()["documents"] == []


def test_word_and_powerpoint_files_are_cited_by_section_and_slide(client: TestClient) -> None:
    word = docx_bytes([("Scope", ["Intro."]), ("Dam safety", ["The spillway was widened."])])
    deck = pptx_bytes([("Budget", "Costs"), ("Turbines", "Three turbines were replaced.")])
    jobs = ingest(client, {"plan.docx": word, "deck.pptx": deck})
    assert [j.document.kind for j in jobs if j.document] == ["docx", "pptx"]
    found = {}
    for query in ("spillway widened", "turbines replaced"):
        response = client.post("/search", json={"query": query, "top_k": 1})
        (hit,) = SearchResponse.model_validate(response.json()).hits
        found[hit.filename] = (hit.chunk.page_start, hit.chunk.section)
    assert found == {"plan.docx": (2, "Dam safety"), "deck.pptx": (2, None)}


def test_a_filename_is_never_a_path(client: TestClient) -> None:
    (job,) = ingest(client, {"../../etc/report.pdf": pdf(REPORT)})
    assert job.filename == "report.pdf"
    assert job.document is not None
    assert job.document.filename == "report.pdf"


def test_collections_keep_documents_apart(client: TestClient) -> None:
    ingest(client, {"report.pdf": pdf(REPORT)}, collection="water")
    ingest(client, {"orchard.pdf": pdf(ORCHARD)}, collection="farm")
    water = client.get("/documents", params={"collection": "water"}).json()["documents"]
    assert [d["filename"] for d in water] == ["report.pdf"]
    assert len(client.get("/documents").json()["documents"]) == 2
    response = client.get("/documents", params={"collection": "no such/name"})
    assert response.status_code == 422


def test_unknown_job_is_404(client: TestClient) -> None:
    response = client.get("/jobs/nope")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
