from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import NotFoundError
from state.originals import LocalOriginals


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalOriginals]:
    originals = LocalOriginals(tmp_path / "originals")
    yield originals
    originals.close()


def test_the_same_bytes_are_kept_once_and_deleted_with_their_last_owner(
    store: LocalOriginals,
) -> None:
    data = b"%PDF-1.7 the same bytes"
    sha = hashlib.sha256(data).hexdigest()
    first = store.put(data, "a.pdf", "application/pdf", "docs/" + sha)
    again = store.put(data, "b.pdf", "application/pdf", "other/" + sha)
    assert first == again
    assert (first.sha256, first.filename, first.size_bytes) == (sha, "a.pdf", len(data))
    assert [p.name for p in store.root.rglob(sha)] == [sha]  # once, sharded
    assert store.path(sha).relative_to(store.root).parts == (sha[:2], sha[2:4], sha)
    assert store.owners(sha) == ["docs/" + sha, "other/" + sha]
    store.release(sha, "docs/" + sha)
    assert store.get(sha) == (first, data)
    store.release(sha, "other/" + sha)
    assert store.find(sha) is None
    assert not store.path(sha).exists()
    with pytest.raises(NotFoundError, match=sha):
        store.get(sha)


def test_owners_survive_a_reopen(tmp_path: Path) -> None:
    store = LocalOriginals(tmp_path / "o")
    original = store.put(b"hello", "h.txt", "text/plain", "docs/x")
    store.close()
    reopened = LocalOriginals(tmp_path / "o")
    assert reopened.get(original.sha256) == (original, b"hello")
    assert reopened.owners(original.sha256) == ["docs/x"]
    reopened.close()


def test_a_name_that_is_no_sha256_is_not_found_and_never_a_path(store: LocalOriginals) -> None:
    with pytest.raises(NotFoundError, match="not a sha256"):
        store.get("../../etc/passwd")
    store.release("../x", "docs/x")  # nothing to release, nothing touched


def test_no_temporary_file_is_left(store: LocalOriginals) -> None:
    store.put(b"x" * 1000, "x.txt", "text/plain", "docs/x")
    assert list(store.root.rglob("*.tmp")) == []
