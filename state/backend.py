"""The state backend that ``KBQA_STATE__URL`` names: SQLite files under data_dir when unset,
the PostgreSQL database it points at otherwise. Each kind of state is one store behind its
protocol; a backend is the set of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.registry import Registry
from core.settings import StateSettings
from state.conversations import ConversationStore, LocalConversations
from state.feedback import FeedbackStore, LocalFeedback
from state.jobs import JobStore, LocalJobs
from state.keys import KeyStore, LocalKeys
from state.originals import OriginalStore


@dataclass
class State:
    """One backend's stores. ``originals`` is None where the backend keeps none here (the
    local one is ``state.originals``'s, opened by the service)."""

    conversations: ConversationStore
    jobs: JobStore
    keys: KeyStore
    feedback: FeedbackStore
    originals: OriginalStore | None = None
    closer: Callable[[], None] | None = None  # what the stores share (a connection pool)
    probe: Callable[[], str | None] | None = None  # why a shared state cannot serve now

    def problem(self) -> str | None:
        """Why the state cannot be used now (its server is away), or None."""
        return self.probe() if self.probe is not None else None

    def close(self) -> None:
        for store in (self.conversations, self.jobs, self.keys, self.feedback, self.originals):
            if store is not None:
                store.close()
        if self.closer is not None:
            self.closer()


Opener = Callable[[StateSettings, Path], State]


def open_local(settings: StateSettings, data_dir: Path) -> State:
    """Today's SQLite files under ``data_dir``."""
    return State(
        conversations=LocalConversations(data_dir / "conversations.sqlite3"),
        jobs=LocalJobs(data_dir),
        keys=LocalKeys(data_dir / "keys.sqlite3"),
        feedback=LocalFeedback(data_dir / "feedback.sqlite3"),
    )


# PostgreSQL's by reference: loaded when picked (psycopg only where it is used), so this module
# does not import the module that builds its State. ``BACKENDS.add`` takes another.
BACKENDS: Registry[Opener] = Registry(
    "state backend", {"postgres": "state.postgres_stores:open_postgres"}
)
BACKENDS.add("local", open_local)


def open_state(settings: StateSettings, data_dir: Path) -> State:
    """The stores of the backend ``settings`` name."""
    return BACKENDS.get(settings.backend)(settings, data_dir)
