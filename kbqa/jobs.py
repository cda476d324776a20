"""Ingestion jobs: files queued by the API and indexed one at a time in the background.

One worker: embedding already uses every core, and one writer at a time keeps the index simple.
Queries never wait for a job, only for the short moment its document is committed.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from core.errors import IngestError, KbqaError, NotFoundError
from core.types import Job, JobError
from ingest.pipeline import Ingestor, Progress

log = logging.getLogger(__name__)


class _Cancelled(Exception):
    pass


class JobQueue:
    """Runs ingestion jobs on one background thread and remembers the last ``kept`` of them."""

    def __init__(self, ingestor: Callable[[], Ingestor], kept: int = 1000) -> None:
        """``ingestor`` is called when the first job runs, so the models load on first use."""
        self._ingestor = ingestor
        self.kept = kept
        self._closing = threading.Event()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pending = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kbqa-ingest")

    def submit(self, data: bytes, filename: str, collection: str) -> Job:
        """Queue a file (already checked with :meth:`Ingestor.check`); returns its job."""
        job = Job(
            id=uuid.uuid4().hex, filename=filename, collection=collection, size_bytes=len(data)
        )
        with self._lock:
            self._jobs[job.id] = job
            self._pending += 1
            self._forget_old()
        self._executor.submit(self._run, job.id, data)
        return job.model_copy()

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id!r}")
            return job.model_copy(deep=True)

    def list(self) -> list[Job]:
        with self._lock:
            return [job.model_copy(deep=True) for job in reversed(self._jobs.values())]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("queued", "running", "succeeded", "failed"), 0)
        with self._lock:
            for job in self._jobs.values():
                counts[job.state] += 1
        return counts

    def close(self) -> None:
        """Stop: the running job is abandoned (its file is not indexed), queued ones dropped."""
        self._closing.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for job in self._jobs.values():
                if job.state == "queued":
                    job.state, job.finished_at = "failed", datetime.now(UTC)
                    job.error = JobError(code="cancelled", message="the server stopped first")

    # -- the worker -----------------------------------------------------------------------------
    def _update(self, job_id: str, **fields: object) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                for name, value in fields.items():
                    setattr(job, name, value)

    def _progress(self, job_id: str, event: Progress) -> None:
        if self._closing.is_set():  # raised inside ingest_bytes, before anything is written
            raise _Cancelled
        if event.stage == "parsed":
            self._update(job_id, stage="parsed", pages_parsed=event.done)
        elif event.stage == "chunked":
            self._update(job_id, stage="chunked", chunks_total=event.total)
        else:
            self._update(job_id, stage=event.stage, chunks_embedded=event.done)

    def _run(self, job_id: str, data: bytes) -> None:
        job = self.get(job_id)
        self._update(job_id, state="running", started_at=datetime.now(UTC))
        outcome: dict[str, object]
        ingestor = self._ingestor()
        try:
            result = ingestor.ingest_bytes(
                data, job.filename, job.collection, lambda e: self._progress(job_id, e)
            )
            outcome = {"state": "succeeded", "document": result.document}
            outcome["duplicate"] = not result.created
        except _Cancelled:
            error = JobError(code="cancelled", message="the server stopped before the job ended")
            outcome = {"state": "failed", "error": error}
        except IngestError as exc:
            error = JobError(code=exc.code, reason=exc.reason, message=str(exc))
            outcome = {"state": "failed", "error": error}
        except KbqaError as exc:
            outcome = {"state": "failed", "error": JobError(code=exc.code, message=str(exc))}
        except Exception as exc:  # a bug: keep the worker alive and say so in the job
            log.exception("ingestion job %s failed", job_id)
            error = JobError(code="internal", message=f"{type(exc).__name__}: {exc}")
            outcome = {"state": "failed", "error": error}
        self._update(job_id, finished_at=datetime.now(UTC), **outcome)
        with self._lock:
            self._pending -= 1
            idle = self._pending == 0
        if idle:  # the FAISS files are a cache: write them when the queue drains, not per file
            ingestor.index.flush()

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.finished_at is not None]
        for job_id in finished[: max(0, len(self._jobs) - self.kept)]:
            del self._jobs[job_id]
