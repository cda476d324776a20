"""A scan's job reports each page as it is read, from the first: GET /jobs/{id} says how many
of its scanned pages are read while the others are still to be."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pypdfium2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from benchmarks.scans import scan_pdf
from core.settings import Settings
from core.types import Job, TextLine
from ingest.ocr import OcrOptions
from tests.api.conftest import AUTH, upload, wait
from tests.utils.pdfs import text_pdf_bytes

PAGES = [f"Page {n} of the scanned survey of the Elmstead reservoir." for n in range(1, 5)]


def _until(client: TestClient, job: Job, check: Callable[[Job], bool], bound: float = 60) -> Job:
    """The job's status once ``check`` holds; a bound, not a measure: the test fails past it."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        current = Job.model_validate(client.get(f"/jobs/{job.id}").json())
        if check(current):
            return current
        assert current.finished_at is None, current.model_dump()
        time.sleep(0.01)
    raise AssertionError(f"job {job.id}: {current.model_dump()} after {bound} s")


def _reports(done: int, total: int) -> Callable[[Job], bool]:
    return lambda job: (job.pages_ocr_done, job.pages_ocr_total) == (done, total)


def test_a_scans_job_reports_each_page_as_it_is_read(
    api_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OCR (the parser in process) is held before each page until the test has seen, through
    the API, the job report the pages read so far: so each count is seen while the job runs,
    whatever the machine's speed."""
    go = threading.Semaphore(0)
    read: list[str] = []  # the pages' texts, as OCR returned them

    def one_page(page: pypdfium2.PdfPage, options: OcrOptions) -> tuple[str, list[TextLine]]:
        assert go.acquire(timeout=60), "the test never let this page be read"
        read.append(PAGES[len(read)])
        return read[-1], []

    monkeypatch.setattr("ingest.loaders.ocr_page", one_page)
    scan = scan_pdf(text_pdf_bytes(PAGES), dpi=50)
    with TestClient(create_app(api_settings, warm_up=False), headers=AUTH) as client:
        (job,) = upload(client, {"scan.pdf": scan})
        for done in range(len(PAGES)):
            # The total is known before the first page is read: (0, 4), then (1, 4) ...
            status = _until(client, job, _reports(done, len(PAGES)))
            assert status.state == "running"
            assert status.pages_parsed == 0
            assert len(read) == done
            go.release()  # the next page
        finished = wait(client, job)
    assert finished.state == "succeeded", finished.error
    assert (finished.pages_ocr_done, finished.pages_ocr_total) == (len(PAGES), len(PAGES))
    assert finished.document is not None
    assert finished.document.pages == len(PAGES)
    assert read == PAGES
