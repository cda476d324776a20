"""Conversations: questions and their answers, citations included.

They let a follow-up question carry its history without the client resending it, and let the
UI show a conversation again after a page reload. ``LocalConversations`` keeps them in SQLite
under data_dir; ``state.postgres_stores`` in the database that several nodes share.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from core.errors import NotFoundError
from core.types import TITLE_CHARS, Answer, Conversation, ConversationSummary, Message, Turn
from state.sqlite import open_sqlite

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


class ConversationStore(Protocol):
    """Conversations and their messages (a question and its answer are two messages)."""

    def create(self, title: str = "") -> Conversation: ...

    def recent(self, limit: int = 50) -> list[ConversationSummary]:
        """The most recently active first."""
        ...

    def get(self, conversation_id: str) -> Conversation:
        """With every message; ``core.errors.NotFoundError`` if there is none."""
        ...

    def append(self, conversation_id: str, answer: Answer) -> None:
        """Store a question and its answer as the conversation's next two messages."""
        ...

    def rename(self, conversation_id: str, title: str) -> ConversationSummary:
        """Give a conversation its title (cut to ``TITLE_CHARS``); NotFoundError if none."""
        ...

    def delete(self, conversation_id: str) -> None: ...

    def close(self) -> None: ...


def new_conversation(title: str) -> Conversation:
    now = _now()
    return Conversation(
        id=uuid.uuid4().hex, title=title[:TITLE_CHARS], created_at=now, updated_at=now
    )


def with_messages(
    summary: ConversationSummary,
    rows: Iterable[tuple[str, str, Answer | None, datetime | str]],
) -> Conversation:
    """A conversation from its summary and its messages' (role, content, answer, created)."""
    return Conversation(
        **summary.model_dump(),
        messages=[
            Message(role=role, content=content, answer=answer, created_at=created)
            for role, content, answer, created in rows
        ],
    )


def last_turns(store: ConversationStore, conversation_id: str, turns: int = 10) -> list[Turn]:
    """The last ``turns`` messages, oldest first, as the model should see them."""
    messages = store.get(conversation_id).messages[-turns:]
    return [Turn(role=m.role, content=m.content) for m in messages]


class LocalConversations:
    """In ``conversations.sqlite3`` under data_dir: one node's."""

    def __init__(self, path: Path) -> None:
        self._db = open_sqlite(path, SCHEMA)
        self._lock = threading.Lock()

    def create(self, title: str = "") -> Conversation:
        conversation = new_conversation(title)
        now = conversation.created_at
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
                raise NotFoundError.said(
                    "errors.no_conversation", conversation=repr(conversation_id)
                )
            messages = self._db.execute(
                "SELECT role, content, answer, created_at FROM messages"
                " WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return with_messages(
            _summary(row),
            (
                (role, content, Answer.model_validate_json(answer) if answer else None, created)
                for role, content, answer, created in messages
            ),
        )

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
                    raise NotFoundError.said(
                        "errors.no_conversation", conversation=repr(conversation_id)
                    )
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
                raise NotFoundError.said(
                    "errors.no_conversation", conversation=repr(conversation_id)
                )
        return self.get(conversation_id)

    def delete(self, conversation_id: str) -> None:
        with self._lock:
            deleted = self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if deleted.rowcount == 0:
                raise NotFoundError.said(
                    "errors.no_conversation", conversation=repr(conversation_id)
                )

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
