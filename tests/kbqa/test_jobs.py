"""Ingestion jobs are durable: finished ones are remembered, interrupted ones resumed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from core.types import Job
from ingest.pipeline import Ingestor, Progress
from kbqa.jobs import JobQueue
from state.jobs import LocalJobs
from tests.utils.pdfs import text_pdf_bytes

PAGES = ["The Elmstead reservoir was completed in 1887.", "Its engineer was Margaret Quill."]


def _queue(ingestor: object, path: Path) -> JobQueue:
    """A queue over the local store in ``path``, as a node restarted on it opens it."""
    return JobQueue(lambda: ingestor, LocalJobs(path), poll_s=0.05)  # type: ignore[arg-type, return-value]


def _wait(queue: JobQueue, job: Job) -> Job:
    for _ in range(500):
        current = queue.get(job.id)
        if current.finished_at is not None:
            return current
        time.sleep(0.01)
    raise AssertionError(f"job {job.id} did not finish")


class _Stuck:
    """An ingestor that parses, then waits until told to go on (or until the queue closes)."""

    def __init__(self, index) -> None:  # noqa: ANN001
        self.index = index
        self.started = threading.Event()

    def ingest_bytes(self, data, filename, collection, progress):  # noqa: ANN001, ANN201
        self.started.set()
        while True:  # the queue raises from progress() once it is closing
            progress(Progress(filename, "parsed", 2, 2))
            time.sleep(0.01)


def test_finished_jobs_are_remembered_across_restarts(ingestor: Ingestor, tmp_path: Path) -> None:
    queue = _queue(ingestor, tmp_path)
    done = _wait(queue, queue.submit(text_pdf_bytes(PAGES), "report.pdf", "default"))
    queue.close()
    again = _queue(ingestor, tmp_path)
    assert again.get(done.id) == done
    assert list((tmp_path / "uploads").iterdir()) == []  # the spooled upload is gone
    again.close()


def test_a_job_interrupted_by_a_stop_is_resumed(ingestor: Ingestor, tmp_path: Path) -> None:
    stuck = _Stuck(ingestor.index)
    queue = _queue(stuck, tmp_path)
    running = queue.submit(text_pdf_bytes(PAGES), "report.pdf", "default")
    queued = queue.submit(text_pdf_bytes(PAGES[:1]), "short.pdf", "default")
    assert stuck.started.wait(10)
    queue.close()
    assert ingestor.index.documents() == []
    again = _queue(ingestor, tmp_path)
    first, second = _wait(again, running), _wait(again, queued)
    assert (first.state, first.resumed, second.state, second.resumed) == (
        "succeeded",
        True,
        "succeeded",
        True,
    )
    assert {d.filename for d in ingestor.index.documents()} == {"report.pdf", "short.pdf"}
    again.close()


def test_a_job_whose_upload_was_lost_is_reported_failed(ingestor: Ingestor, tmp_path: Path) -> None:
    stuck = _Stuck(ingestor.index)
    queue = _queue(stuck, tmp_path)
    job = queue.submit(text_pdf_bytes(PAGES), "report.pdf", "default")
    assert stuck.started.wait(10)
    queue.close()
    (tmp_path / "uploads" / f"{job.id}.upload").unlink()
    again = _queue(ingestor, tmp_path)
    lost = again.get(job.id)
    assert lost.state == "failed"
    assert lost.error is not None
    assert lost.error.code == "interrupted"
    again.close()


def test_a_resumed_job_that_finishes_at_once_stays_finished(
    ingestor: Ingestor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resumed state is saved before the worker can finish the job, not after."""
    stuck = _Stuck(ingestor.index)
    queue = _queue(stuck, tmp_path)
    job = queue.submit(text_pdf_bytes(PAGES), "report.pdf", "default")
    assert stuck.started.wait(10)
    queue.close()
    write = LocalJobs._write

    def write_late(store: LocalJobs, saved: Job) -> None:  # the restart's own saves, written late
        if threading.current_thread() is threading.main_thread() and saved.resumed:
            saved = saved.model_copy(deep=True)
            time.sleep(3)
        write(store, saved)

    monkeypatch.setattr(LocalJobs, "_write", write_late)
    again = _queue(ingestor, tmp_path)
    assert _wait(again, job).state == "succeeded"
    again.close()
    monkeypatch.undo()
    after = _queue(ingestor, tmp_path)
    assert after.get(job.id).state == "succeeded"
    after.close()


def test_a_job_whose_upload_cannot_be_read_now_is_given_back_not_failed(
    ingestor: Ingestor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state's database away for a moment is no reason to fail the job for good."""
    from core.errors import StateUnavailableError

    store = LocalJobs(tmp_path)
    real_upload, calls = store.upload, []

    def flaky_upload(job_id: str) -> bytes:
        calls.append(job_id)
        if len(calls) == 1:
            raise StateUnavailableError("the state database is away")
        return real_upload(job_id)

    monkeypatch.setattr(store, "upload", flaky_upload)
    queue = JobQueue(lambda: ingestor, store, poll_s=0.05)
    job = _wait(queue, queue.submit(text_pdf_bytes(PAGES), "report.pdf", "default"))
    assert (job.state, job.resumed, len(calls)) == ("succeeded", True, 2)
    queue.close()
