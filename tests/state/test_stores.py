"""The stores of the state: the same behaviour on the local backend and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.errors import NotFoundError
from core.records import Feedback
from core.settings import StateSettings
from core.types import TITLE_CHARS, Answer, Job
from state.backend import State, open_state
from state.conversations import last_turns
from state.keys import make_key


def _answer(question: str, text: str) -> Answer:
    return Answer(
        question=question, answer=text, grounded=True, citations=[], strategy="zero-shot", model="m"
    )


def test_a_conversation_keeps_its_turns_in_order(state: State) -> None:
    store = state.conversations
    conversation = store.create()
    for n in range(3):
        store.append(conversation.id, _answer(f"question {n}?", f"answer {n}"))
    stored = store.get(conversation.id)
    assert stored.title == "question 0?"
    assert [m.content for m in stored.messages] == [
        f"{text} {n}{'?' if text == 'question' else ''}"
        for n in range(3)
        for text in ("question", "answer")
    ]
    assert stored.messages[1].answer == _answer("question 0?", "answer 0")
    assert [t.role for t in last_turns(store, conversation.id, 3)] == [
        "assistant",
        "user",
        "assistant",
    ]
    assert store.recent()[0].id == conversation.id


def test_an_unknown_conversation_is_not_found(state: State) -> None:
    with pytest.raises(NotFoundError, match="no conversation 'nope'"):
        state.conversations.get("nope")
    with pytest.raises(NotFoundError):
        state.conversations.append("nope", _answer("q?", "a"))
    conversation = state.conversations.create("kept")
    state.conversations.delete(conversation.id)
    with pytest.raises(NotFoundError):
        state.conversations.delete(conversation.id)


def _job(name: str = "a.pdf") -> Job:
    import uuid

    return Job(id=uuid.uuid4().hex, filename=name, collection="default", size_bytes=3)


def test_a_job_is_claimed_once_and_finished_by_its_node(state: State) -> None:
    jobs = state.jobs
    job = _job()
    jobs.add(job, b"pdf")
    claimed = jobs.claim("node-a", 30)
    assert claimed is not None
    assert (claimed.id, claimed.state, claimed.resumed) == (job.id, "running", False)
    assert jobs.claim("node-b", 30) is None
    assert jobs.upload(job.id) == b"pdf"
    assert jobs.counts()["running"] == 1
    claimed.state, claimed.finished_at = "succeeded", claimed.started_at
    assert jobs.finish(claimed, "node-a")
    assert jobs.get(job.id).state == "succeeded"
    assert jobs.counts() == {"queued": 0, "running": 0, "succeeded": 1, "failed": 0}
    with pytest.raises(NotFoundError):
        jobs.upload(job.id)  # dropped with the job's end


def test_a_released_job_is_queued_again_as_resumed(state: State) -> None:
    job = _job()
    state.jobs.add(job, b"pdf")
    claimed = state.jobs.claim("node-a", 30)
    assert claimed is not None
    state.jobs.release(claimed, "node-a")
    again = state.jobs.claim("node-b", 30)
    assert again is not None
    assert (again.id, again.resumed) == (job.id, True)


def test_jobs_are_listed_newest_first_and_old_ones_forgotten(state: State) -> None:
    added = [_job(f"{n}.pdf") for n in range(4)]
    for job in added:
        state.jobs.add(job, b"x")
    for _ in added:
        claimed = state.jobs.claim("node", 30)
        assert claimed is not None
        claimed.state, claimed.finished_at = "failed", claimed.started_at
        state.jobs.finish(claimed, "node")
    assert [j.filename for j in state.jobs.recent(10)] == ["3.pdf", "2.pdf", "1.pdf", "0.pdf"]
    state.jobs.forget_old(2)
    assert [j.filename for j in state.jobs.recent(10)] == ["3.pdf", "2.pdf"]
    with pytest.raises(NotFoundError):
        state.jobs.get(added[0].id)


def test_a_key_is_found_by_its_secret_until_revoked(state: State) -> None:
    key = make_key("ci", write=False, collections=["hr"])
    state.keys.add(key)
    found = state.keys.find(key.key)
    assert found is not None
    assert (found.id, found.write, found.collections) == (key.id, False, ["hr"])
    assert state.keys.find(key.key + "x") is None
    assert [k.id for k in state.keys.list()] == [key.id]
    revoked = state.keys.revoke(key.id)
    assert revoked.revoked_at is not None
    assert state.keys.find(key.key) is None
    assert state.keys.revoke(key.id).revoked_at == revoked.revoked_at  # twice is no error
    with pytest.raises(NotFoundError, match="no API key"):
        state.keys.revoke("nope")


def test_feedback_is_kept_newest_first(state: State) -> None:
    for n, rating in enumerate(("up", "down")):
        state.feedback.add(
            Feedback(id=f"f{n}", rating=rating, question=f"q{n}?", answer="a", comment="c")
        )
    assert [(f.id, f.rating) for f in state.feedback.list()] == [("f1", "down"), ("f0", "up")]
    assert len(state.feedback.list(limit=1)) == 1


def test_existing_local_data_dirs_keep_their_conversations(tmp_path: Path) -> None:
    """The local backend reads the files that kbqa wrote before the state had backends."""
    data = tmp_path / "data"
    data.mkdir()
    old = sqlite3.connect(data / "conversations.sqlite3")
    old.executescript(
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
        "INSERT INTO conversations VALUES ('c1', 'old', '2025-01-01T00:00:00+00:00',"
        " '2025-01-01T00:00:00+00:00');"
    )
    old.commit()
    old.close()
    state = open_state(StateSettings(), data)
    assert state.conversations.get("c1").title == "old"
    state.close()


def test_nodes_claiming_at_once_each_get_a_different_job(postgres_url: str, tmp_path: Path) -> None:
    """SELECT ... FOR UPDATE SKIP LOCKED: 8 nodes, 20 jobs, each job claimed exactly once."""
    states = [open_state(StateSettings(url=postgres_url), tmp_path) for _ in range(8)]
    try:
        for n in range(20):
            states[0].jobs.add(_job(f"{n}.pdf"), b"x")
        claimed: list[str] = []
        lock = threading.Lock()

        def drain(node: int) -> None:
            while (job := states[node].jobs.claim(f"node-{node}", 30)) is not None:
                with lock:
                    claimed.append(job.id)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(drain, range(8)))
        assert len(claimed) == 20
        assert len(set(claimed)) == 20
    finally:
        for state in states:
            state.close()


def test_a_job_whose_lease_ran_out_is_taken_over(postgres_url: str, tmp_path: Path) -> None:
    state = open_state(StateSettings(url=postgres_url), tmp_path)
    try:
        job = _job()
        state.jobs.add(job, b"pdf")
        first = state.jobs.claim("dead-node", 0.2)
        assert first is not None
        assert state.jobs.claim("node-b", 30) is None  # the lease still holds
        threading.Event().wait(0.4)
        taken = state.jobs.claim("node-b", 30)
        assert taken is not None
        assert (taken.id, taken.resumed) == (job.id, True)
        # The dead node, back, has lost it: it may neither renew, save nor finish it.
        assert not state.jobs.renew(job.id, "dead-node", 30)
        first.state = "succeeded"
        assert not state.jobs.save(first, "dead-node")
        assert not state.jobs.finish(first, "dead-node")
        assert state.jobs.get(job.id).state == "running"
        assert state.jobs.renew(job.id, "node-b", 30)
    finally:
        state.close()


def test_a_job_that_kills_every_node_is_failed_after_a_few(
    postgres_url: str, tmp_path: Path
) -> None:
    from state.postgres_stores import MAX_TAKEOVERS

    state = open_state(StateSettings(url=postgres_url), tmp_path)
    try:
        job = _job("poison.pdf")
        state.jobs.add(job, b"pdf")
        for n in range(MAX_TAKEOVERS + 1):  # each node dies holding it: its lease runs out
            assert state.jobs.claim(f"node-{n}", 0.05) is not None
            threading.Event().wait(0.1)
        assert state.jobs.claim("last-node", 30) is None
        failed = state.jobs.get(job.id)
        assert failed.state == "failed"
        assert failed.error is not None
        assert failed.error.code == "abandoned"
        with pytest.raises(NotFoundError):
            state.jobs.upload(job.id)
    finally:
        state.close()


def test_a_state_url_of_another_database_is_refused() -> None:
    with pytest.raises(ValueError, match="must start with postgresql://, got mysql:"):
        StateSettings(url="mysql://u:secret@db/kbqa")
    assert StateSettings(url="").backend == "local"


def test_a_conversation_is_renamed(state: State) -> None:
    conversation = state.conversations.create("first question")
    renamed = state.conversations.rename(conversation.id, "y" * (TITLE_CHARS + 10))
    assert renamed.title == "y" * TITLE_CHARS
    assert state.conversations.get(conversation.id).title == renamed.title
    with pytest.raises(NotFoundError):
        state.conversations.rename("nope", "A title")
