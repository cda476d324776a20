"""The embedded chat server: llama.cpp's OpenAI-compatible server on a packaged GGUF model.

Used when no external server URL is set; a vLLM server is used the same way through its URL.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core.errors import ModelError
from core.settings import LLMSettings
from generation.assets import PACKAGED_MODELS, ensure_model

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """Starts ``python -m llama_cpp.server`` as a child process; use as a context manager."""

    def __init__(self, settings: LLMSettings, models_dir: Path, log_dir: Path) -> None:
        self.settings = settings
        self.models_dir = models_dir
        self.log_path = log_dir / "llm-server.log"
        self.port = settings.port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.model_file: Path | None = None  # the GGUF it serves, once started

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def model_path(self) -> Path:
        if self.settings.local_model_path is not None:
            if not self.settings.local_model_path.is_file():
                raise ModelError(f"local_model_path {self.settings.local_model_path} is not a file")
            return self.settings.local_model_path
        return ensure_model(PACKAGED_MODELS[self.settings.local_model], self.models_dir)

    def command(self, model_path: Path) -> list[str]:
        threads = self.settings.threads or os.cpu_count() or 1
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--model_alias",
            self.settings.served_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.settings.context_window),
            "--n_threads",
            str(threads),
            "--n_threads_batch",
            str(threads),
        ]

    def start(self) -> LocalServer:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise ModelError(
                "the embedded chat server needs llama-cpp-python: pip install 'kbqa[llm]', "
                "or set KBQA_LLM__BASE_URL to an OpenAI-compatible server such as vLLM"
            ) from exc
        self.model_file = self.model_path()
        cmd = self.command(self.model_file)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
        self._wait_ready()
        log.info("chat server ready at %s", self.base_url)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ModelError(
                    f"chat server exited with code {self.process.returncode}; see {self.log_path}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise ModelError(
            f"chat server not ready after {self.settings.startup_timeout_s:.0f}s;"
            f" see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
