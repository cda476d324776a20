"""Feedback on answers: thumbs up or down with the question, the answer, its citations and a
comment; read back as a question set for ``kbqa eval``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from core.records import Feedback
from state.sqlite import open_sqlite


class FeedbackStore(Protocol):
    def add(self, feedback: Feedback) -> Feedback: ...

    def list(self, limit: int = 1000) -> list[Feedback]:
        """The newest first."""
        ...

    def close(self) -> None: ...


LOCAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, record TEXT);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback(created_at);
"""


class LocalFeedback:
    """In ``feedback.sqlite3`` under data_dir."""

    def __init__(self, path: Path) -> None:
        self._db = open_sqlite(path, LOCAL_SCHEMA)
        self._lock = threading.Lock()

    def add(self, feedback: Feedback) -> Feedback:
        with self._lock:
            self._db.execute(
                "INSERT INTO feedback VALUES (?, ?, ?)",
                (feedback.id, feedback.created_at.isoformat(), feedback.model_dump_json()),
            )
        return feedback

    def list(self, limit: int = 1000) -> list[Feedback]:
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM feedback ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [Feedback.model_validate_json(row[0]) for row in rows]

    def close(self) -> None:
        self._db.close()
