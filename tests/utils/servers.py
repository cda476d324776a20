"""Waiting for servers the tests start."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_until_up(
    url: str,
    *,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    timeout: float = 600,
) -> None:
    """Poll ``url`` until it answers 200; fail early, with the log, if ``process`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server died: {log.read_text() if log else ''}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not up after {timeout:g}s: {log.read_text() if log else ''}")
