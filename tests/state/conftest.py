"""Each state backend in turn: the same behavioural tests pass on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import StateSettings
from state.backend import State, open_state


@pytest.fixture(params=["local", "postgres"])
def state_settings(request: pytest.FixtureRequest) -> StateSettings:
    if request.param == "local":
        return StateSettings()
    url = request.getfixturevalue("postgres_url")
    return StateSettings(url=url, timeout_s=2)


@pytest.fixture
def state(state_settings: StateSettings, tmp_path: Path) -> Iterator[State]:
    opened = open_state(state_settings, tmp_path / "data")
    yield opened
    opened.close()
