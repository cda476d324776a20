"""Servers the tests start: waiting for one, ``kbqa serve`` as its own process, and uploads
to it that wait for their ingestion job."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from core.net import free_port


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


@contextlib.contextmanager
def kbqa_serve(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``kbqa serve ARGS`` on a free port over ``root/data`` (its output in ``root/serve.log``,
    ``env`` over this process's): yields its URL, once /health answers, and the process; then
    stops it as Ctrl-C would, and kills it if it is not gone within 30 s."""
    port = free_port()
    env = {**os.environ, "KBQA_DATA_DIR": str(root / "data"), "HF_HUB_OFFLINE": "1", **(env or {})}
    command = [sys.executable, "-c", "from cli.main import main; main()", "serve", *args]
    url, log_path = f"http://127.0.0.1:{port}", root / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"{url}/health", process=process, log=log_path)
            yield url, process
        finally:
            if process.poll() is None:
                process.terminate()  # kbqa serve stops its model server and UI on SIGTERM
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def upload(
    api: httpx.Client,
    filename: str,
    content: bytes,
    timeout: float = 600,
    content_type: str = "application/pdf",
) -> dict[str, Any]:
    """POST one file (a PDF unless ``content_type`` says otherwise) to /documents and poll its
    job until it finishes; returns the job, after checking that it succeeded."""
    files = [("files", (filename, content, content_type))]
    response = api.post("/documents", files=files)
    assert response.status_code == 202, response.text
    (job,) = response.json()["jobs"]
    deadline = time.monotonic() + timeout
    while job["finished_at"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
        job = api.get(f"/jobs/{job['id']}").json()
    assert job["state"] == "succeeded", job
    return job


def run_kbqa(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """The ``kbqa`` command with ``args`` over ``data_dir``, as a user runs it; its output kept."""
    env = {**os.environ, "KBQA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", "from cli.main import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
