"""An API over the fake embedder and the quoting fake chat model, with keys switched on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from core.types import Job
from tests.utils.pdfs import make_image_only_pdf, text_pdf_bytes

KEY = "test-key-0123456789abcdef"
READ_KEY = "read-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}

REPORT = [
    "Annual report of the Brookfield Water Board. The board manages two reservoirs.",
    "The Elmstead reservoir was completed in 1887. Its dam is 41 metres high. "
    "The engineer in charge of the works was Margaret Quill.",
    "Water quality is tested every day at the treatment works.",
]
ORCHARD = [
    "The Hollins orchard grows forty kinds of apple.",
    "The oldest tree in the Hollins orchard was planted in 1902 by Ada Hollins.",
]


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        embedding={"backend": "fake"},
        llm={"backend": "fake"},
        ingest={"chunk_size": 200, "chunk_overlap": 40, "max_file_mb": 1, "isolate": False},
        api={"keys": [KEY], "read_keys": [READ_KEY], "max_upload_files": 3},
    )


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings), headers=AUTH) as test_client:
        wait_ready(test_client)
        yield test_client


def wait_ready(client: TestClient, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/health").status_code != 200:
        assert time.monotonic() < deadline, client.get("/health").json()
        time.sleep(0.01)


def pdf(pages: list[str]) -> bytes:
    return text_pdf_bytes(pages, font="core")


def upload(client: TestClient, files: dict[str, bytes], collection: str | None = None) -> list[Job]:
    params = {"collection": collection} if collection else {}
    response = client.post(
        "/documents",
        params=params,
        files=[("files", (name, data, "application/pdf")) for name, data in files.items()],
    )
    assert response.status_code == 202, response.text
    return [Job.model_validate(j) for j in response.json()["jobs"]]


def wait(client: TestClient, job: Job, timeout: float = 30) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = Job.model_validate(client.get(f"/jobs/{job.id}").json())
        if current.finished_at is not None:
            return current
        time.sleep(0.02)
    raise AssertionError(f"job {job.id} did not finish in {timeout}s")


def ingest(client: TestClient, files: dict[str, bytes], collection: str | None = None) -> list[Job]:
    """Upload and wait; every job must succeed."""
    done = [wait(client, job) for job in upload(client, files, collection)]
    assert all(job.state == "succeeded" for job in done), [j.error for j in done]
    return done


@pytest.fixture
def scan_without_ocr(api_settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, Job]]:
    """An app with no OCR engine, and the job of a scan uploaded to it, finished (failed)."""
    settings = api_settings.model_copy(
        update={"ingest": api_settings.ingest.model_copy(update={"ocr_engines": []})}
    )
    scan = make_image_only_pdf(tmp_path / "scan.pdf").read_bytes()
    with TestClient(create_app(settings, warm_up=False), headers=AUTH) as client:
        (job,) = upload(client, {"scan.pdf": scan})
        yield client, wait(client, job)


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    """A client whose default collection holds the water-board report."""
    ingest(client, {"report.pdf": pdf(REPORT)})
    return client


def error_of(response) -> dict:  # noqa: ANN001 - an httpx.Response
    """The error of a failed response, checked to have the one error shape."""
    from api.errors import ErrorBody

    body = ErrorBody.model_validate(response.json())
    assert body.error.status == response.status_code
    return body.error.model_dump()
