"""A real Milvus for the tests: `milvus-lite server`, its own process on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from core.net import free_port
from core.settings import IndexSettings


class MilvusServer:
    """`milvus-lite server` over one data directory; stopped and started again on the same port
    (the fault tests stop it mid-run)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        lite = "needs milvus-lite: pip install 'kbqa[milvus-lite]'"
        pytest.importorskip("milvus_lite", reason=lite)
        pytest.importorskip("pymilvus", reason="needs pymilvus: pip install 'kbqa[milvus]'")
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log = data_dir.parent / f"milvus-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> MilvusServer:
        cmd = [
            sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir),
            "--host", "127.0.0.1", "--port", str(self.port), "--max-workers", "4",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"milvus-lite server died: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(
            f"milvus-lite server not up after {timeout:g}s: {self.log.read_text()}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def settings(self, prefix: str | None = None, timeout_s: float = 5) -> IndexSettings:
        """Index settings on this server, in collections of their own (a fresh prefix)."""
        return IndexSettings(
            backend="milvus",
            milvus={
                "uri": self.uri,
                "prefix": prefix or f"t{uuid.uuid4().hex[:12]}",
                "timeout_s": timeout_s,
            },
        )
