"""Conversations: questions and their answers, citations included, kept in SQLite.

They let a follow-up question carry its history without the client resending it, and let the
UI show a conversation again after a page reload.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from core.errors import NotFoundError
from core.types import TITLE_CHARS, Answer, Conversation, ConversationSummary, Message, Turn

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    answer TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""


def _now() -> datetime:
    return datetime.now(UTC)


class ConversationStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def create(self, title: str = "") -> Conversation:
        now = _now()
        conversation = Conversation(
            id=uuid.uuid4().hex, title=title[:TITLE_CHARS], created_at=now, updated_at=now
        )
        with self._lock:
            self._db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?)",
                (conversation.id, conversation.title, now.isoformat(), now.isoformat()),
            )
        return conversation

    def recent(self, limit: int = 50) -> list[ConversationSummary]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM conversations ORDER BY updated_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_summary(row) for row in rows]

    def get(self, conversation_id: str) -> Conversation:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            messages = self._db.execute(
                "SELECT role, content, answer, created_at FROM messages"
                " WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return Conversation(
            **_summary(row).model_dump(),
            messages=[
                Message(
                    role=role,
                    content=content,
                    answer=Answer.model_validate_json(answer) if answer else None,
                    created_at=datetime.fromisoformat(created),
                )
                for role, content, answer, created in messages
            ],
        )

    def history(self, conversation_id: str, turns: int = 10) -> list[Turn]:
        """The last ``turns`` messages, oldest first, as the model should see them."""
        messages = self.get(conversation_id).messages[-turns:]
        return [Turn(role=m.role, content=m.content) for m in messages]

    def append(self, conversation_id: str, answer: Answer) -> None:
        """Store a question and its answer as the conversation's next two messages."""
        now = _now().isoformat()
        with self._lock:
            cursor = self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor.execute(
                    "UPDATE conversations SET updated_at = ?,"
                    " title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                    (now, answer.question[:TITLE_CHARS], conversation_id),
                )
                if cursor.rowcount == 0:
                    raise NotFoundError(f"no conversation {conversation_id!r}")
                cursor.executemany(
                    "INSERT INTO messages (conversation_id, role, content, answer, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [
                        (conversation_id, "user", answer.question, None, now),
                        (
                            conversation_id,
                            "assistant",
                            answer.answer,
                            answer.model_dump_json(),
                            now,
                        ),
                    ],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def rename(self, conversation_id: str, title: str) -> ConversationSummary:
        """Give a conversation its title (cut to :data:`TITLE_CHARS`)."""
        with self._lock:
            renamed = self._db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                (title[:TITLE_CHARS], conversation_id),
            )
            if renamed.rowcount == 0:
                raise NotFoundError(f"no conversation {conversation_id!r}")
        return self.get(conversation_id)

    def delete(self, conversation_id: str) -> None:
        with self._lock:
            deleted = self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if deleted.rowcount == 0:
                raise NotFoundError(f"no conversation {conversation_id!r}")

    def close(self) -> None:
        self._db.close()


def _summary(row: tuple) -> ConversationSummary:
    conversation_id, title, created, updated = row
    return ConversationSummary(
        id=conversation_id,
        title=title,
        created_at=datetime.fromisoformat(created),
        updated_at=datetime.fromisoformat(updated),
    )
