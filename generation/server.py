"""The chat server kbqa starts itself when no external URL is set.

Two kinds, picked by ``KBQA_LLM__SERVER``: llama.cpp's OpenAI-compatible server on a packaged
GGUF model (the default), or vLLM's on a Hugging Face model folder. Both are child processes
that log to a file and are ready when ``GET /v1/models`` answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core.errors import ModelError
from core.net import free_port
from core.registry import Registry
from core.settings import LLMSettings, ServerSettings
from generation.assets import PACKAGED_MODELS, ensure_model, requantize

log = logging.getLogger(__name__)


class ChatServer:
    """An OpenAI-compatible server run as a child process; use as a context manager.

    Subclasses give the command line (and, if need be, environment and checks); this base
    starts the process, waits until it answers, and stops it.
    """

    log_name = "llm-server.log"
    dialect = "llama.cpp"  # the KBQA_LLM__DIALECT of a client that points at this server
    # A server that forks workers of its own runs in its own process group, so that stop() can
    # end them all, and not only the parent, should it hang.
    own_group = False

    def __init__(self, settings: LLMSettings, models_dir: Path, log_dir: Path) -> None:
        self.settings = settings
        self.models_dir = models_dir
        self.log_path = log_dir / self.log_name
        self.port = self.section.port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.model_file: Path | None = None  # the GGUF it serves, once started

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def section(self) -> ServerSettings:
        """This kind of server's own settings (``llm.llama_cpp``, ``llm.vllm``)."""
        return self.settings.llama_cpp

    @property
    def startup_timeout_s(self) -> float:
        return self.section.startup_timeout_s

    def prepare(self) -> list[str]:
        """Check what the server needs and return its command line."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> ChatServer:
        cmd = self.prepare()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                cmd,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=self.own_group,
            )
        self._wait_ready()
        log.info("chat server ready at %s", self.base_url)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
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
            f"chat server not ready after {self.startup_timeout_s:.0f}s; see {self.log_path}"
        )

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=30 if self.own_group else 10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self.own_group:  # whatever of its children outlived it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalServer(ChatServer):
    """llama-cpp-python's server on a packaged (or any) GGUF file, started through
    :mod:`generation.llama_server`, whose prompt cache keeps to its size."""

    def model_path(self) -> Path:
        path = self.settings.llama_cpp.model_path
        if path is not None:
            if not path.is_file():
                raise ModelError(f"llama_cpp.model_path {path} is not a file")
            return path
        path = ensure_model(PACKAGED_MODELS[self.settings.local_model], self.models_dir)
        kind = self.settings.llama_cpp.quantization
        return requantize(path, kind) if kind else path

    def command(self, model_path: Path) -> list[str]:
        threads = self.section.threads or os.cpu_count() or 1
        return [
            sys.executable,
            "-m",
            "generation.llama_server",
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
            # The server's default computes the whole vocabulary's logits for every prompt token,
            # for logprobs kbqa never asks for: off, a prompt is read 1.25x as fast (0.5B model,
            # 513 tokens, 2 cores).
            "--logits_all",
            "false",
            *self.cache_args(),
            *self.variant_args(),
        ]

    def variant_args(self) -> list[str]:
        variant = self.settings.llama_cpp.cpu_variant
        return ["--cpu_variant", variant] if variant else []

    def cache_args(self) -> list[str]:
        """Keep the model's state after each prompt, so a prompt that starts like an earlier
        one (the same strategy's system rules and examples) is read from where that one left
        off, even after prompts of other kinds (a follow-up's rewrite, another strategy) came
        between. :class:`generation.llama_server.BoundedRAMCache` keeps it within its size."""
        size = self.settings.llama_cpp.prompt_cache_mb
        return ["--cache", "true", "--cache_size", str(size * 2**20)] if size else []

    def prepare(self) -> list[str]:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise ModelError(
                "the embedded chat server needs llama-cpp-python: pip install 'kbqa[llm]', "
                "or set KBQA_LLM__BASE_URL to an OpenAI-compatible server such as vLLM"
            ) from exc
        self.model_file = self.model_path()
        return self.command(self.model_file)


def has_cuda() -> bool:
    """An NVIDIA GPU is visible (asked of nvidia-smi: kbqa's own torch is the CPU build)."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _cpu_list(cpus: list[int]) -> str:
    """0,1,2,5 -> '0-2,5', the form VLLM_CPU_OMP_THREADS_BIND takes."""
    spans: list[list[int]] = []
    for cpu in sorted(cpus):
        if spans and cpu == spans[-1][1] + 1:
            spans[-1][1] = cpu
        else:
            spans.append([cpu, cpu])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


class VllmServer(ChatServer):
    """vLLM's OpenAI-compatible server, run by the Python of its own venv (``make vllm``).

    Started as ``python -m vllm.entrypoints.openai.api_server``: the ``vllm`` command does not
    work under the vllm-cpu package. Without CUDA it runs on the CPU, pinned to the cores this
    process may use, and without torch.compile (measured: minutes more at each start, no faster).
    """

    log_name = "vllm-server.log"
    dialect = "vllm"
    own_group = True  # the API server forks an engine process, which forks a worker

    def __init__(
        self, settings: LLMSettings, models_dir: Path, log_dir: Path, cuda: bool | None = None
    ) -> None:
        super().__init__(settings, models_dir, log_dir)
        self.cuda = has_cuda() if cuda is None else cuda

    @property
    def section(self) -> ServerSettings:
        return self.settings.vllm

    def model_path(self) -> Path:
        """The model folder: the configured one, or the packaged model converted for vLLM."""
        folder = self.settings.vllm.model
        if folder is None:
            from generation.convert import ensure_hf_model

            return ensure_hf_model(PACKAGED_MODELS[self.settings.local_model], self.models_dir)
        if not (folder / "config.json").is_file():
            raise ModelError(
                f"vllm.model {folder} is not a Hugging Face model folder (no config.json)"
            )
        return folder

    def command(self, model_path: Path) -> list[str]:
        s, v = self.settings, self.settings.vllm
        cmd = [
            str(v.python),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(model_path),
            "--served-model-name",
            s.served_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--max-model-len",
            str(s.context_window),
            "--dtype",
            v.dtype,
        ]
        if self.cuda:
            cmd += ["--gpu-memory-utilization", str(v.gpu_memory)]
        else:
            cmd += ["--enforce-eager"]
        return cmd + v.args

    def env(self) -> dict[str, str]:
        env = {**os.environ, "VLLM_NO_USAGE_STATS": "1"}  # HF_HUB_OFFLINE: core/__init__.py
        if not self.cuda:
            cpus = sorted(os.sched_getaffinity(0))[: self.section.threads]
            env["VLLM_CPU_OMP_THREADS_BIND"] = _cpu_list(cpus)
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"  # its default keeps one core of few idle
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB; plenty for one 4k-token user
        return env

    def prepare(self) -> list[str]:
        python = self.settings.vllm.python
        if not python.exists():
            raise ModelError(
                f"vLLM is not installed: {python} does not exist. Run `make vllm`, or set "
                "KBQA_LLM__VLLM__PYTHON to the python of a venv with vllm (or vllm-cpu)"
            )
        return self.command(self.model_path())


SERVERS: Registry[type[ChatServer]] = Registry("chat server")
SERVERS.add("auto", LocalServer)
SERVERS.add("llama.cpp", LocalServer)
SERVERS.add("vllm", VllmServer)


def make_server(settings: LLMSettings, models_dir: Path, log_dir: Path) -> ChatServer:
    """The server named by ``settings.server``."""
    return SERVERS.get(settings.server)(settings, models_dir, log_dir)
