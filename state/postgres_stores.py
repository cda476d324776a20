"""The shared state's stores in PostgreSQL (psycopg 3): the same behaviour as the local ones,
seen by every node that uses the same database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from core.errors import NotFoundError
from core.records import ApiKey, Feedback, NewApiKey
from core.settings import StateSettings
from core.types import (
    TITLE_CHARS,
    Answer,
    Conversation,
    ConversationSummary,
    Job,
    JobError,
)
from state.backend import State
from state.conversations import new_conversation, with_messages
from state.jobs import JOB_STATES, now, requeued
from state.keys import key_hash, record
from state.postgres import Database
from state.postgres_originals import PostgresOriginals


def open_postgres(settings: StateSettings, data_dir: Path | None = None) -> State:
    """The stores in the database ``settings.url`` names; nothing under ``data_dir``."""
    db = Database(settings)
    return State(
        conversations=PostgresConversations(db),
        jobs=PostgresJobs(db),
        keys=PostgresKeys(db),
        feedback=PostgresFeedback(db),
        originals=PostgresOriginals(db),
        closer=db.close,
        probe=db.problem,
    )


class PostgresConversations:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, title: str = "") -> Conversation:
        conversation = new_conversation(title)
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO conversations VALUES (%s, %s, %s, %s)",
                (conversation.id, conversation.title, conversation.created_at,
                 conversation.updated_at),
            )  # fmt: skip
        return conversation

    def recent(self, limit: int = 50) -> list[ConversationSummary]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT id, title, created_at, updated_at FROM conversations"
                " ORDER BY updated_at DESC LIMIT %s",
                (limit,),
            ).fetchall()
        return [_summary(row) for row in rows]

    def get(self, conversation_id: str) -> Conversation:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT id, title, created_at, updated_at FROM conversations WHERE id = %s",
                (conversation_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError.said(
                    "errors.no_conversation", conversation=repr(conversation_id)
                )
            messages = conn.execute(
                "SELECT role, content, answer, created_at FROM messages"
                " WHERE conversation_id = %s ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return with_messages(
            _summary(row),
            (
                (role, content, Answer.model_validate(answer) if answer else None, created)
                for role, content, answer, created in messages
            ),
        )

    def append(self, conversation_id: str, answer: Answer) -> None:
        stamp = now()
        with self._db.connection() as conn, conn.transaction():
            updated = conn.execute(
                "UPDATE conversations SET updated_at = %s,"
                " title = CASE WHEN title = '' THEN %s ELSE title END WHERE id = %s",
                (stamp, answer.question[:TITLE_CHARS], conversation_id),
            )
            if updated.rowcount == 0:
                raise NotFoundError.said(
                    "errors.no_conversation", conversation=repr(conversation_id)
                )
            conn.cursor().executemany(
                "INSERT INTO messages (conversation_id, role, content, answer, created_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (conversation_id, "user", answer.question, None, stamp),
                    (conversation_id, "assistant", answer.answer,
                     Jsonb(answer.model_dump(mode="json")), stamp),
                ],
            )  # fmt: skip

    def rename(self, conversation_id: str, title: str) -> ConversationSummary:
        with self._db.connection() as conn:
            renamed = conn.execute(
                "UPDATE conversations SET title = %s WHERE id = %s",
                (title[:TITLE_CHARS], conversation_id),
            )
        if renamed.rowcount == 0:
            raise NotFoundError.said("errors.no_conversation", conversation=repr(conversation_id))
        return self.get(conversation_id)

    def delete(self, conversation_id: str) -> None:
        with self._db.connection() as conn:
            deleted = conn.execute("DELETE FROM conversations WHERE id = %s", (conversation_id,))
        if deleted.rowcount == 0:
            raise NotFoundError.said("errors.no_conversation", conversation=repr(conversation_id))

    def close(self) -> None:
        pass  # the pool is the backend's


def _summary(row: tuple[str, str, datetime, datetime]) -> ConversationSummary:
    conversation_id, title, created, updated = row
    return ConversationSummary(
        id=conversation_id, title=title, created_at=created, updated_at=updated
    )


def _job(value: object) -> Job:
    return Job.model_validate(value)


MAX_TAKEOVERS = 3  # a job whose node died holding it this many times is failed


class PostgresJobs:
    """Claims with ``SELECT ... FOR UPDATE SKIP LOCKED``: nodes asking at once each get a
    different job, and none waits on another's claim."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, job: Job, data: bytes) -> None:
        with self._db.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO jobs (id, state, created_at, job) VALUES (%s, %s, %s, %s)",
                (job.id, job.state, job.created_at, Jsonb(job.model_dump(mode="json"))),
            )
            # %b: the bytes go in PostgreSQL's binary format, not as hex text twice their size.
            conn.execute("INSERT INTO job_uploads VALUES (%s, %b)", (job.id, data))

    def get(self, job_id: str) -> Job:
        with self._db.connection() as conn:
            row = conn.execute("SELECT job FROM jobs WHERE id = %s", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError.said("errors.no_job", job=repr(job_id))
        return _job(row[0])

    def recent(self, limit: int) -> list[Job]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT job FROM jobs ORDER BY created_at DESC LIMIT %s", (limit,)
            ).fetchall()
        return [_job(row[0]) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._db.connection() as conn:
            rows = conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
        return {**dict.fromkeys(JOB_STATES, 0), **dict(rows)}

    def claim(self, node: str, lease_s: float) -> Job | None:
        while True:
            with self._db.connection() as conn, conn.transaction():
                row = conn.execute(
                    "SELECT job, owner, takeovers FROM jobs WHERE finished_at IS NULL"
                    " AND (owner IS NULL OR lease_until < now())"
                    " ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED"
                ).fetchone()
                if row is None:
                    return None
                job, taken_over = _job(row[0]), row[1] is not None
                takeovers = row[2] + taken_over
                if takeovers > MAX_TAKEOVERS:
                    self._abandon(conn, job, takeovers)
                    continue  # the next job, in a new transaction
                job = requeued(job) if taken_over else job
                job.state, job.started_at = "running", now()
                conn.execute(
                    "UPDATE jobs SET state = %s, owner = %s, takeovers = %s,"
                    " lease_until = now() + make_interval(secs => %s), job = %s WHERE id = %s",
                    (job.state, node, takeovers, lease_s, Jsonb(job.model_dump(mode="json")),
                     job.id),
                )  # fmt: skip
            return job

    def _abandon(self, conn: psycopg.Connection, job: Job, takeovers: int) -> None:
        """Fail a job whose nodes kept dying while they ran it."""
        job.state, job.finished_at = "failed", now()
        job.error = JobError(
            code="abandoned",
            message=f"{takeovers} nodes stopped without finishing this job, the last ones "
            "probably killed by the file itself; it is not tried again",
        )
        conn.execute(
            "UPDATE jobs SET state = %s, finished_at = %s, owner = NULL, lease_until = NULL,"
            " takeovers = %s, job = %s WHERE id = %s",
            (job.state, job.finished_at, takeovers, Jsonb(job.model_dump(mode="json")), job.id),
        )
        conn.execute("DELETE FROM job_uploads WHERE job_id = %s", (job.id,))

    def renew(self, job_id: str, node: str, lease_s: float) -> bool:
        with self._db.connection() as conn:
            renewed = conn.execute(
                "UPDATE jobs SET lease_until = now() + make_interval(secs => %s)"
                " WHERE id = %s AND owner = %s AND finished_at IS NULL",
                (lease_s, job_id, node),
            )
        return renewed.rowcount == 1

    def save(self, job: Job, node: str) -> bool:
        with self._db.connection() as conn:
            saved = conn.execute(
                "UPDATE jobs SET state = %s, job = %s WHERE id = %s AND owner = %s"
                " AND finished_at IS NULL",
                (job.state, Jsonb(job.model_dump(mode="json")), job.id, node),
            )
        return saved.rowcount == 1

    def finish(self, job: Job, node: str) -> bool:
        with self._db.connection() as conn, conn.transaction():
            done = conn.execute(
                "UPDATE jobs SET state = %s, finished_at = %s, owner = NULL, lease_until = NULL,"
                " job = %s WHERE id = %s AND owner = %s AND finished_at IS NULL",
                (job.state, job.finished_at or now(), Jsonb(job.model_dump(mode="json")),
                 job.id, node),
            )  # fmt: skip
            if done.rowcount == 1:
                conn.execute("DELETE FROM job_uploads WHERE job_id = %s", (job.id,))
        return done.rowcount == 1

    def release(self, job: Job, node: str) -> None:
        job = requeued(job)
        with self._db.connection() as conn:
            conn.execute(
                "UPDATE jobs SET state = %s, owner = NULL, lease_until = NULL, job = %s"
                " WHERE id = %s AND owner = %s AND finished_at IS NULL",
                (job.state, Jsonb(job.model_dump(mode="json")), job.id, node),
            )

    def upload(self, job_id: str) -> bytes:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT data FROM job_uploads WHERE job_id = %s", (job_id,), binary=True
            ).fetchone()
        if row is None:
            raise NotFoundError(f"the upload of job {job_id!r} is gone")
        return bytes(row[0])

    def forget_old(self, kept: int) -> None:
        with self._db.connection() as conn:
            conn.execute(
                "DELETE FROM jobs WHERE finished_at IS NOT NULL AND id NOT IN"
                " (SELECT id FROM jobs ORDER BY created_at DESC LIMIT %s)",
                (kept,),
            )

    def close(self) -> None:
        pass


class PostgresKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, key: NewApiKey) -> ApiKey:
        stored = record(key)
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, hash, created_at, record) VALUES (%s, %s, %s, %s)",
                (key.id, key_hash(key.key), key.created_at, Jsonb(stored.model_dump(mode="json"))),
            )
        return stored

    def list(self) -> list[ApiKey]:
        with self._db.connection() as conn:
            rows = conn.execute("SELECT record FROM api_keys ORDER BY created_at DESC").fetchall()
        return [ApiKey.model_validate(row[0]) for row in rows]

    def find(self, key: str) -> ApiKey | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT record FROM api_keys WHERE hash = %s AND revoked_at IS NULL",
                (key_hash(key),),
            ).fetchone()
        return ApiKey.model_validate(row[0]) if row else None

    def revoke(self, key_id: str) -> ApiKey:
        with self._db.connection() as conn:
            row = conn.execute(
                "UPDATE api_keys SET record = CASE WHEN revoked_at IS NULL"
                " THEN jsonb_set(record, '{revoked_at}', to_jsonb(now())) ELSE record END,"
                " revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING record",
                (key_id,),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}")
        return ApiKey.model_validate(row[0])

    def close(self) -> None:
        pass


class PostgresFeedback:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, feedback: Feedback) -> Feedback:
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO feedback VALUES (%s, %s, %s, %s)",
                (feedback.id, feedback.rating, feedback.created_at,
                 Jsonb(feedback.model_dump(mode="json"))),
            )  # fmt: skip
        return feedback

    def list(self, limit: int = 1000) -> list[Feedback]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT record FROM feedback ORDER BY created_at DESC LIMIT %s", (limit,)
            ).fetchall()
        return [Feedback.model_validate(row[0]) for row in rows]

    def close(self) -> None:
        pass
