"""Ingestion jobs and their uploads, as the job queue (``kbqa.jobs``) needs them stored.

A job is claimed by one node at a time for a lease that the node renews while it runs the job;
a job whose lease ran out (its node died) is claimed again by any node, marked ``resumed``.
``LocalJobs`` is one node's (SQLite and spooled files under data_dir: the node is the only
one, so it holds its claims in memory and resumes every unfinished job when it starts again);
``state.postgres_stores.PostgresJobs`` is shared by several nodes.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from core.errors import NotFoundError
from core.files import write_atomically
from core.types import Job, JobError
from state.sqlite import open_sqlite

JOB_STATES = ("queued", "running", "succeeded", "failed")


class JobStore(Protocol):
    """Jobs, their state and progress, and the bytes of the file each one ingests."""

    def add(self, job: Job, data: bytes) -> None:
        """Record a queued job with its upload, durably, before the API answers 202."""
        ...

    def get(self, job_id: str) -> Job:
        """``core.errors.NotFoundError`` if there is none (or it was forgotten)."""
        ...

    def recent(self, limit: int) -> list[Job]:
        """The newest ``limit`` jobs, newest first."""
        ...

    def counts(self) -> dict[str, int]:
        """Jobs in each state (every one of :data:`JOB_STATES` named)."""
        ...

    def claim(self, node: str, lease_s: float) -> Job | None:
        """The oldest job that is queued or whose lease ran out, now ``running`` on ``node``
        for ``lease_s`` seconds; None if there is none."""
        ...

    def renew(self, job_id: str, node: str, lease_s: float) -> bool:
        """Extend ``node``'s lease; False if the job is no longer ``node``'s."""
        ...

    def save(self, job: Job, node: str) -> bool:
        """Store the job's state and progress, if it is still ``node``'s."""
        ...

    def finish(self, job: Job, node: str) -> bool:
        """Store the finished job and drop its upload, if it is still ``node``'s (else a node
        that took it over records the outcome)."""
        ...

    def release(self, job: Job, node: str) -> None:
        """Give up a job that ``node`` stops running before it is done: queued again."""
        ...

    def upload(self, job_id: str) -> bytes:
        """The file the job ingests; ``core.errors.NotFoundError`` if it is gone."""
        ...

    def forget_old(self, kept: int) -> None:
        """Drop finished jobs beyond the newest ``kept`` jobs."""
        ...

    def close(self) -> None: ...


def now() -> datetime:
    return datetime.now(UTC)


def requeued(job: Job) -> Job:
    """``job`` as it is queued again after its node stopped or died."""
    job.state, job.stage, job.resumed = "queued", None, True
    return job


LOCAL_SCHEMA = "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created_at TEXT, job TEXT);"


class LocalJobs:
    """Jobs as JSON in ``jobs.sqlite3``, uploads in ``uploads/`` (write, fsync, rename)."""

    def __init__(self, data_dir: Path) -> None:
        self._db = open_sqlite(data_dir / "jobs.sqlite3", LOCAL_SCHEMA, synchronous="FULL")
        self._spool = data_dir / "uploads"
        self._spool.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._queued: deque[str] = deque()
        self._resume_interrupted()

    def _path(self, job_id: str) -> Path:
        return self._spool / f"{job_id}.upload"

    def _write(self, job: Job) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
            (job.id, job.created_at.isoformat(), job.model_dump_json()),
        )

    def _resume_interrupted(self) -> None:
        """Every unfinished job was this node's: queued again, or failed if its upload never
        reached the disk whole."""
        rows = self._db.execute("SELECT job FROM jobs ORDER BY created_at").fetchall()
        for job in (Job.model_validate_json(row[0]) for row in rows):
            if job.finished_at is not None:
                continue
            if self._path(job.id).exists():
                self._write(requeued(job))
                self._queued.append(job.id)
            else:
                job.state, job.finished_at = "failed", now()
                job.error = JobError(code="interrupted", message="the server stopped; upload again")
                self._write(job)
        for stray in self._spool.glob("*.tmp"):  # half-written uploads of a crash
            stray.unlink(missing_ok=True)

    def add(self, job: Job, data: bytes) -> None:
        write_atomically(self._path(job.id), data)
        with self._lock:
            self._write(job)
            self._queued.append(job.id)

    def get(self, job_id: str) -> Job:
        with self._lock:
            row = self._db.execute("SELECT job FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError.said("errors.no_job", job=repr(job_id))
        return Job.model_validate_json(row[0])

    def recent(self, limit: int) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT job FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [Job.model_validate_json(row[0]) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT json_extract(job, '$.state'), count(*) FROM jobs GROUP BY 1"
            ).fetchall()
        return {**dict.fromkeys(JOB_STATES, 0), **dict(rows)}

    def claim(self, node: str, lease_s: float) -> Job | None:
        with self._lock:
            if not self._queued:
                return None
            job_id = self._queued.popleft()
        job = self.get(job_id)
        job.state, job.started_at = "running", now()
        self.save(job, node)
        return job

    def renew(self, job_id: str, node: str, lease_s: float) -> bool:
        return True  # one node: nobody else takes its jobs

    def save(self, job: Job, node: str) -> bool:
        with self._lock:
            self._write(job)
        return True

    def finish(self, job: Job, node: str) -> bool:
        self.save(job, node)
        self._path(job.id).unlink(missing_ok=True)
        return True

    def release(self, job: Job, node: str) -> None:
        self.save(requeued(job), node)
        with self._lock:
            self._queued.appendleft(job.id)

    def upload(self, job_id: str) -> bytes:
        try:
            return self._path(job_id).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"the upload of job {job_id!r} is gone") from None

    def forget_old(self, kept: int) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM jobs WHERE json_extract(job, '$.finished_at') IS NOT NULL AND id"
                " NOT IN (SELECT id FROM jobs ORDER BY created_at DESC LIMIT ?)",
                (kept,),
            )

    def close(self) -> None:
        self._db.close()
