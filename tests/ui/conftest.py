"""The UI under AppTest, against a real API server (fake models) on a thread of this process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

from api.app import create_app
from core.net import free_port
from core.settings import Settings, get_settings
from tests.api.conftest import KEY
from tests.utils.servers import wait_until_up

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


@pytest.fixture
def live_api(tmp_path: Path) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path / "data",
        embedding={"backend": "fake"},
        llm={"backend": "fake"},
        ingest={"chunk_size": 200, "chunk_overlap": 40, "max_file_mb": 1, "isolate": False},
        api={"keys": [KEY]},
    )
    port = free_port()
    config = uvicorn.Config(create_app(settings), port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/health", timeout=30)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def ui(live_api: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app, pointed at the live API; call ``.run()`` on it."""
    monkeypatch.setenv("KBQA_UI__API_URL", live_api)
    monkeypatch.setenv("KBQA_UI__API_KEY", KEY)
    get_settings.cache_clear()
    return AppTest.from_file(APP, default_timeout=30)
