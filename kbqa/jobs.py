"""Ingestion jobs: files queued by the API and indexed one at a time in the background.

One worker: embedding already uses every core, and one writer at a time keeps the index simple.
Queries never wait for a job, only for the short moment its document is committed.

Jobs are durable. An upload is written to ``<data_dir>/uploads/`` (write, fsync, rename) and
its job recorded in SQLite before the API answers 202; a job that a crash or a stop interrupts
is queued again at the next start (``resumed``), and indexing it twice is harmless because a
document's id is its content's hash.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from core.errors import IndexUnavailableError, IngestError, KbqaError, NotFoundError
from core.files import write_atomically
from core.types import Job, JobError
from ingest.pipeline import Ingestor, IngestResult, Progress

log = logging.getLogger(__name__)


class _Cancelled(Exception):
    pass


class _JobLog:
    """Jobs as JSON in SQLite, written at each change of state (not at each progress step)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created_at TEXT, job TEXT)"
        )

    def save(self, job: Job) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
            (job.id, job.created_at.isoformat(), job.model_dump_json()),
        )

    def recent(self, limit: int) -> list[Job]:
        rows = self._db.execute(
            "SELECT job FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [Job.model_validate_json(row[0]) for row in reversed(rows)]

    def forget(self, job_ids: list[str]) -> None:
        self._db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in job_ids])

    def close(self) -> None:
        self._db.close()


class JobQueue:
    """Runs ingestion jobs on one background thread and remembers the last ``kept`` of them."""

    def __init__(
        self,
        ingestor: Callable[[], Ingestor],
        data_dir: Path,
        kept: int = 1000,
        retries_s: Sequence[float] = (),
    ) -> None:
        """``ingestor`` is called when the first job runs, so the models load on first use.
        ``retries_s``: the waits before each new try of a job that found the index's server
        (Milvus) unreachable."""
        self._ingestor = ingestor
        self.kept = kept
        self.retries_s = tuple(retries_s)
        self._spool = data_dir / "uploads"
        self._spool.mkdir(parents=True, exist_ok=True)
        self._log = _JobLog(data_dir / "jobs.sqlite3")
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kbqa-ingest")
        self._jobs: OrderedDict[str, Job] = OrderedDict(
            (job.id, job) for job in self._log.recent(kept)
        )
        self._resume_interrupted()

    def submit(self, data: bytes, filename: str, collection: str) -> Job:
        """Queue a file (already checked with :meth:`Ingestor.check`); returns its job."""
        job = Job(
            id=uuid.uuid4().hex, filename=filename, collection=collection, size_bytes=len(data)
        )
        write_atomically(self._spool_path(job.id), data)
        with self._lock:
            self._jobs[job.id] = job
            self._log.save(job)
            self._pending += 1
            self._forget_old()
        self._executor.submit(self._run, job.id)
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
        """Stop: the running job is abandoned before it writes, and with the queued ones it is
        resumed at the next start."""
        self._closing.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._log.close()

    # -- the worker -----------------------------------------------------------------------------
    def _spool_path(self, job_id: str) -> Path:
        return self._spool / f"{job_id}.upload"

    def _resume_interrupted(self) -> None:
        resumed = []
        for job in self._jobs.values():
            if job.finished_at is not None:
                continue
            if self._spool_path(job.id).exists():
                job.state, job.stage, job.resumed = "queued", None, True
                resumed.append(job.id)
            else:  # an upload that never reached the disk whole
                job.state, job.finished_at = "failed", datetime.now(UTC)
                job.error = JobError(code="interrupted", message="the server stopped; upload again")
            self._log.save(job)
        # Only once every state is saved: a job the worker finishes at once (a duplicate) must
        # not have its 'succeeded' overwritten by a 'queued' saved after it, which the next
        # restart would read as an upload whose file is gone.
        for job_id in resumed:
            self._pending += 1
            self._executor.submit(self._run, job_id)
        for stray in self._spool.glob("*.tmp"):  # half-written uploads of a crash
            stray.unlink(missing_ok=True)

    def _update(self, job_id: str, persist: bool = False, **fields: object) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                for name, value in fields.items():
                    setattr(job, name, value)
                if persist:
                    self._log.save(job)

    def _progress(self, job_id: str, event: Progress) -> None:
        if self._closing.is_set():  # raised inside ingest_bytes, before anything is written
            raise _Cancelled
        if event.stage == "ocr":
            self._update(
                job_id, stage="ocr", pages_ocr_done=event.done, pages_ocr_total=event.total
            )
        elif event.stage == "parsed":
            self._update(job_id, stage="parsed", pages_parsed=event.done)
        elif event.stage == "chunked":
            self._update(job_id, stage="chunked", chunks_total=event.total)
        else:
            self._update(job_id, stage=event.stage, chunks_embedded=event.done)

    def _run(self, job_id: str) -> None:
        job = self.get(job_id)
        self._update(job_id, persist=True, state="running", started_at=datetime.now(UTC))
        try:
            outcome = self._ingest(job)
        except _Cancelled:
            return  # stays 'running' on disk: resumed at the next start
        self._update(job_id, persist=True, finished_at=datetime.now(UTC), **outcome)
        self._spool_path(job_id).unlink(missing_ok=True)
        with self._lock:
            self._pending -= 1
            idle = self._pending == 0
        if idle:  # the FAISS files are a cache: write them when the queue drains, not per file
            self._ingestor().index.flush()

    def _ingest(self, job: Job) -> dict[str, object]:
        """Index the job's file; the fields of its outcome."""
        try:
            result = self._ingest_retrying(job)
            return {
                "state": "succeeded",
                "document": result.document,
                "duplicate": not result.created,
            }
        except _Cancelled:
            raise
        except IngestError as exc:
            error = JobError(code=exc.code, reason=exc.reason, message=str(exc))
        except KbqaError as exc:
            error = JobError(code=exc.code, message=str(exc))
        except Exception as exc:  # a bug: keep the worker alive and say so in the job
            log.exception("ingestion job %s failed", job.id)
            error = JobError(code="internal", message=f"{type(exc).__name__}: {exc}")
        return {"state": "failed", "error": error}

    def _ingest_retrying(self, job: Job) -> IngestResult:
        """Index the job's file, trying again after each wait of ``retries_s`` while the index's
        server is away (a write it cut short is hidden, and overwritten by the next try)."""
        data, waits = self._spool_path(job.id).read_bytes(), list(self.retries_s)
        while True:
            try:
                return self._ingestor().ingest_bytes(
                    data, job.filename, job.collection, lambda e: self._progress(job.id, e)
                )
            except IndexUnavailableError as exc:
                if not waits:
                    raise
                wait_s = waits.pop(0)
                log.warning("job %s: %s; trying again in %gs", job.id, exc, wait_s)
                self._update(job.id, stage="waiting for the index")
                if self._closing.wait(wait_s):
                    raise _Cancelled from exc  # resumed at the next start

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.finished_at is not None]
        old = finished[: max(0, len(self._jobs) - self.kept)]
        for job_id in old:
            del self._jobs[job_id]
        self._log.forget(old)
