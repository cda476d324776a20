"""PostgreSQL's own parts: migrations applied once however many nodes start together, the
originals' store, and an outage that answers StateUnavailableError and heals."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.errors import NotFoundError, StateUnavailableError
from core.settings import StateSettings
from state.backend import State, open_state
from tests.utils.postgres import PostgresServer

psycopg = pytest.importorskip("psycopg", reason="needs psycopg: pip install 'kbqa[postgres]'")
from state.postgres import migrations  # noqa: E402 - after the skip: it imports psycopg
from state.postgres_originals import PostgresOriginals  # noqa: E402


def test_migrations_are_applied_once_by_nodes_starting_together(
    postgres_url: str, tmp_path: Path
) -> None:
    states = [open_state(StateSettings(url=postgres_url), tmp_path) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:  # each one's first call migrates, under the lock
            list(pool.map(lambda s: s.conversations.recent(), states))
    finally:
        for state in states:
            state.close()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version, name FROM kbqa_migrations ORDER BY 1").fetchall()
    assert rows == [(v, name) for v, name, _ in migrations()]
    assert [v for v, _ in rows] == list(range(1, len(rows) + 1))


def test_a_migration_edited_after_it_ran_is_refused_by_name(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = open_state(StateSettings(url=postgres_url), tmp_path)
    first.conversations.recent()
    first.close()
    edited = [(v, n, sql + "\n-- edited") if v == 1 else (v, n, sql) for v, n, sql in migrations()]
    monkeypatch.setattr("state.postgres.migrations", lambda: edited)
    again = open_state(StateSettings(url=postgres_url), tmp_path)
    try:
        with pytest.raises(StateUnavailableError, match="0001_initial.sql differs"):
            again.conversations.recent()
    finally:
        again.close()


def test_keys_are_stored_hashed(postgres_url: str, tmp_path: Path) -> None:
    from state.keys import make_key

    state = open_state(StateSettings(url=postgres_url), tmp_path)
    key = make_key("ci", write=True, collections=None)
    state.keys.add(key)
    state.close()
    with psycopg.connect(postgres_url) as conn:
        dump = str(conn.execute("SELECT * FROM api_keys").fetchall())
    assert key.key not in dump
    assert hashlib.sha256(key.key.encode()).hexdigest() in dump


def test_an_original_is_stored_once_and_dropped_with_its_last_owner(
    postgres_url: str, tmp_path: Path
) -> None:
    state = open_state(StateSettings(url=postgres_url), tmp_path)
    originals = state.originals
    assert isinstance(originals, PostgresOriginals)
    try:
        data = b"%PDF-1.4 the same bytes"
        first = originals.put(data, "a.pdf", "application/pdf", "default/d1")
        second = originals.put(data, "b.pdf", "application/pdf", "hr/d1")
        assert first == second  # the first name stays
        assert first.sha256 == hashlib.sha256(data).hexdigest()
        assert originals.get(first.sha256) == (first, data)
        originals.release(first.sha256, "default/d1")
        assert originals.find(first.sha256) == first
        originals.release(first.sha256, "hr/d1")
        assert originals.find(first.sha256) is None
        with pytest.raises(NotFoundError):
            originals.get(first.sha256)
        originals.release(first.sha256, "hr/d1")  # nothing left: no error
    finally:
        state.close()


def _healed(state: State, conversation_id: str, limit_s: float = 30) -> float:
    """Seconds until the conversation can be read again (polled every 0.1 s)."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        try:
            state.conversations.get(conversation_id)
            return time.monotonic() - start
        except StateUnavailableError:
            time.sleep(0.1)
    raise AssertionError(f"the state did not heal within {limit_s:g}s")


def test_a_stopped_database_is_unavailable_until_it_is_back(tmp_path: Path) -> None:
    server = PostgresServer().start()  # its own: stopping the session's would hurt others
    state = open_state(StateSettings(url=server.new_database(), timeout_s=1), tmp_path)
    try:
        conversation = state.conversations.create("before")
        assert state.problem() is None
        server.stop()
        with pytest.raises(StateUnavailableError, match="state database"):
            state.conversations.get(conversation.id)
        assert "state database" in (state.problem() or "")
        server.start()
        _healed(state, conversation.id)
        assert state.conversations.get(conversation.id).title == "before"
        assert state.problem() is None
    finally:
        state.close()
        server.remove()


def test_an_original_put_by_one_node_is_read_by_another(postgres_url: str, tmp_path: Path) -> None:
    """Until the API serves originals (issue 28), the store itself: two nodes' backends."""
    node_a, node_b = (open_state(StateSettings(url=postgres_url), tmp_path) for _ in range(2))
    try:
        assert node_a.originals is not None
        assert node_b.originals is not None
        data = bytes(range(256)) * 1000  # binary, 256 KB
        stored = node_a.originals.put(data, "scan.pdf", "application/pdf", "default/doc")
        assert node_b.originals.get(stored.sha256) == (stored, data)
    finally:
        node_a.close()
        node_b.close()
