"""Ingestion jobs: files queued by the API and indexed one at a time in the background.

One worker per node: embedding already uses every core, and one writer at a time keeps the
index simple. Queries never wait for a job, only for the short moment its document is committed.

Jobs are durable and stored in the state backend (``state.jobs``): the upload and its job are
recorded before the API answers 202. The worker claims a job for a lease it renews while it
runs it; a job whose node stops is queued again, and one whose node dies is taken over by any
node once the lease runs out (``resumed``). Indexing a file twice is harmless: a document's id
is its content's hash, and the index writes a document whole (Milvus: one row per chunk key).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from core.errors import (
    IndexUnavailableError,
    IngestError,
    KbqaError,
    NotFoundError,
    StateUnavailableError,
)
from core.types import Job, JobError
from ingest.pipeline import Ingestor, IngestResult, Progress
from state.jobs import JobStore, now

log = logging.getLogger(__name__)
PROGRESS_SAVE_S = 0.5  # progress is written at most this often (other nodes read it)


class _Cancelled(Exception):
    pass


def node_name() -> str:
    """This process, as it holds a job's lease: host, pid and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class JobQueue:
    """Claims jobs from the store and runs them on one background thread."""

    def __init__(
        self,
        ingestor: Callable[[], Ingestor],
        store: JobStore,
        kept: int = 1000,
        retries_s: Sequence[float] = (),
        lease_s: float = 30.0,
        poll_s: float = 1.0,
    ) -> None:
        """``ingestor`` is called when the first job runs, so the models load on first use.
        ``retries_s``: the waits before each new try of a job that found the index's server
        (Milvus) unreachable. ``lease_s``: how long a claim lasts unrenewed; ``poll_s``: how
        often the store is asked for work queued elsewhere."""
        self._ingestor, self._store = ingestor, store
        self.kept, self.retries_s = kept, tuple(retries_s)
        self.lease_s, self.poll_s = lease_s, poll_s
        self.node = node_name()
        self._closing, self._wake = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._live: dict[str, Job] = {}  # the job running here, with its latest progress
        self._saved_at = 0.0
        self._worker = threading.Thread(target=self._work, name="kbqa-ingest", daemon=True)
        self._worker.start()

    def submit(self, data: bytes, filename: str, collection: str) -> Job:
        """Queue a file (already checked with :meth:`Ingestor.check`); returns its job."""
        job = Job(
            id=uuid.uuid4().hex, filename=filename, collection=collection, size_bytes=len(data)
        )
        self._store.add(job, data)
        self._store.forget_old(self.kept)
        self._wake.set()
        return job.model_copy()

    def get(self, job_id: str) -> Job:
        with self._lock:
            live = self._live.get(job_id)
            if live is not None:
                return live.model_copy(deep=True)
        return self._store.get(job_id)

    def list(self) -> list[Job]:
        """Recent jobs, newest first."""
        with self._lock:
            live = {i: j.model_copy(deep=True) for i, j in self._live.items()}
        return [live.get(job.id, job) for job in self._store.recent(self.kept)]

    def counts(self) -> dict[str, int]:
        """Jobs by state, for the metrics; none while the state's database is away (a scrape
        still gets the other metrics)."""
        try:
            return self._store.counts()
        except StateUnavailableError:
            return {}

    def close(self) -> None:
        """Stop: the running job is abandoned before it writes and queued again, for this
        node's next start or for another node."""
        self._closing.set()
        self._wake.set()
        self._worker.join()

    # -- the worker -----------------------------------------------------------------------------
    def _work(self) -> None:
        dirty, failing = False, False
        while not self._closing.is_set():
            try:
                job = self._store.claim(self.node, self.lease_s)
                failing = False
            except StateUnavailableError as exc:
                if not failing:  # once per outage, not once per poll
                    log.warning("cannot claim jobs: %s", exc)
                job, failing = None, True
            if job is None:
                if dirty:  # the FAISS files are a cache: written when the queue drains
                    dirty = not self._flush()
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception:  # a bug: the worker lives on; the lease runs out, the job returns
                log.exception("ingestion job %s broke the worker", job.id)
            dirty = True

    def _flush(self) -> bool:
        try:
            self._ingestor().index.flush()
            return True
        except Exception:
            log.exception("could not write the index's files")
            return False

    def _run(self, job: Job) -> None:
        with self._lock:
            self._live[job.id] = job
        lost = threading.Event()
        beat = threading.Thread(target=self._renew, args=(job.id, lost), daemon=True)
        beat.start()
        try:
            outcome = self._ingest(job, lost)
            self._update(job.id, finished_at=now(), **outcome)
            self._finish(job)
        except _Cancelled:
            if not lost.is_set():
                self._quietly(self._store.release, job, self.node)
        finally:
            lost.set()  # stops the heartbeat
            beat.join()
            with self._lock:
                self._live.pop(job.id, None)

    def _finish(self, job: Job) -> None:
        """Record the outcome, trying again while the state's database is away: the work is
        done, and a node that takes the job over would only do it again."""
        while True:
            try:
                self._store.finish(job, self.node)
                return
            except StateUnavailableError as exc:
                log.warning("job %s: cannot record its outcome: %s", job.id, exc)
                if self._closing.wait(min(self.poll_s, 5.0)):
                    raise _Cancelled from exc

    def _quietly(self, call: Callable[..., object], *args: object) -> None:
        try:
            call(*args)
        except StateUnavailableError as exc:
            log.warning("%s: %s", getattr(call, "__name__", call), exc)

    def _renew(self, job_id: str, lost: threading.Event) -> None:
        """Renew the lease every third of it until the job ends; a job taken over by another
        node (this one was too slow to renew) stops here before it writes."""
        while not lost.wait(self.lease_s / 3):
            try:
                if not self._store.renew(job_id, self.node, self.lease_s):
                    log.warning("job %s: lease lost to another node", job_id)
                    lost.set()
            except StateUnavailableError as exc:
                log.warning("job %s: cannot renew its lease: %s", job_id, exc)

    def _update(self, job_id: str, **fields: object) -> None:
        """Change the running job; other nodes see it within PROGRESS_SAVE_S."""
        with self._lock:
            job = self._live[job_id]
            for name, value in fields.items():
                setattr(job, name, value)
            if time.monotonic() - self._saved_at < PROGRESS_SAVE_S:
                return
            self._saved_at = time.monotonic()
            saved = job.model_copy(deep=True)
        self._quietly(self._store.save, saved, self.node)

    def _progress(self, job_id: str, lost: threading.Event, event: Progress) -> None:
        if self._closing.is_set() or lost.is_set():  # raised before anything is written
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

    def _ingest(self, job: Job, lost: threading.Event) -> dict[str, object]:
        """Index the job's file; the fields of its outcome."""
        try:
            result = self._ingest_retrying(job, lost)
            return {
                "state": "succeeded",
                "document": result.document,
                "duplicate": not result.created,
            }
        except _Cancelled:
            raise
        except StateUnavailableError as exc:  # the upload could not be read: try again later
            log.warning("job %s: %s; given back", job.id, exc)
            raise _Cancelled from exc
        except IngestError as exc:
            error = JobError(code=exc.code, reason=exc.reason, message=str(exc))
        except NotFoundError as exc:  # the upload never reached the store whole
            error = JobError(code="interrupted", message=f"{exc}; upload again")
        except KbqaError as exc:
            error = JobError(code=exc.code, message=str(exc))
        except Exception as exc:  # a bug: keep the worker alive and say so in the job
            log.exception("ingestion job %s failed", job.id)
            error = JobError(code="internal", message=f"{type(exc).__name__}: {exc}")
        return {"state": "failed", "error": error}

    def _ingest_retrying(self, job: Job, lost: threading.Event) -> IngestResult:
        """Index the job's file, trying again after each wait of ``retries_s`` while the index's
        server is away (a write it cut short is hidden, and overwritten by the next try)."""
        data, waits = self._store.upload(job.id), list(self.retries_s)
        while True:
            try:
                return self._ingestor().ingest_bytes(
                    data, job.filename, job.collection, lambda e: self._progress(job.id, lost, e)
                )
            except IndexUnavailableError as exc:
                if not waits:
                    raise
                wait_s = waits.pop(0)
                log.warning("job %s: %s; trying again in %gs", job.id, exc, wait_s)
                self._update(job.id, stage="waiting for the index")
                if self._closing.wait(wait_s) or lost.is_set():
                    raise _Cancelled from exc
