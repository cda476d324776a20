"""The servers kbqa starts: settings, command lines and failures, without running vLLM."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import ModelError
from core.settings import LlamaCppSettings, LLMSettings, Settings, VllmSettings
from generation.server import LocalServer, VllmServer, _cpu_list, make_server


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def test_vllm_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBQA_LLM__SERVER", "vllm")
    monkeypatch.setenv("KBQA_LLM__VLLM__MODEL", "/models/Qwen2.5-7B-Instruct")
    monkeypatch.setenv("KBQA_LLM__VLLM__DTYPE", "float16")
    monkeypatch.setenv("KBQA_LLM__VLLM__GPU_MEMORY", "0.5")
    monkeypatch.setenv("KBQA_LLM__VLLM__ARGS", '["--tensor-parallel-size", "2"]')
    llm = Settings().llm
    assert (llm.server, llm.vllm.dtype, llm.vllm.gpu_memory) == ("vllm", "float16", 0.5)
    assert llm.vllm.args == ["--tensor-parallel-size", "2"]
    assert llm.served_name == "Qwen2.5-7B-Instruct"  # the folder's name, unless model is set
    assert llm.vllm.python.parts[-3:] == (".venv-vllm", "bin", "python")


def test_the_old_names_still_work_and_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server fields had other names, in `llm` itself, before the server sections."""
    monkeypatch.setenv("KBQA_LLM__VLLM_DTYPE", "float16")
    monkeypatch.setenv("KBQA_LLM__THREADS", "3")
    monkeypatch.setenv("KBQA_LLM__PROMPT_CACHE_MB", "96")
    monkeypatch.setenv("KBQA_LLM__VLLM__GPU_MEMORY", "0.5")  # a new name beside the old ones
    with pytest.warns(FutureWarning, match="KBQA_LLM__VLLM_DTYPE is deprecated") as caught:
        llm = Settings().llm
    assert (llm.vllm.dtype, llm.vllm.gpu_memory) == ("float16", 0.5)
    assert (llm.llama_cpp.threads, llm.vllm.threads, llm.llama_cpp.prompt_cache_mb) == (3, 3, 96)
    messages = " ".join(str(w.message) for w in caught)
    assert "KBQA_LLM__LLAMA_CPP__THREADS and KBQA_LLM__VLLM__THREADS" in messages
    with pytest.warns(FutureWarning):
        assert LLMSettings(vllm_model=Path("/m/X")).vllm.model == Path("/m/X")


def test_a_new_name_wins_over_its_old_one() -> None:
    with pytest.warns(FutureWarning):
        llm = LLMSettings.model_validate({"port": 1, "llama_cpp": {"port": 2}})
    assert (llm.llama_cpp.port, llm.vllm.port) == (2, 1)


@pytest.mark.parametrize(
    ("server", "base_url", "dialect", "expected"),
    [
        ("auto", None, "auto", "llama.cpp"),  # the server kbqa starts
        ("vllm", None, "auto", "vllm"),
        ("auto", "http://x/v1", "auto", "vllm"),  # someone's server: vLLM's names
        ("llama.cpp", "http://x/v1", "auto", "llama.cpp"),  # `server` said it, before `dialect`
        ("auto", "http://x/v1", "llama.cpp", "llama.cpp"),
    ],
)
def test_the_dialect_follows_the_server_unless_set(
    server: str, base_url: str | None, dialect: str, expected: str
) -> None:
    llm = LLMSettings.model_validate({"server": server, "base_url": base_url, "dialect": dialect})
    assert llm.wire_dialect == expected


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        (None, "server", "ollama"),
        ("vllm", "gpu_memory", 0),
        ("vllm", "gpu_memory", 1.5),
        ("vllm", "dtype", "int4"),
    ],
)
def test_nonsense_vllm_settings_are_refused(section: str | None, field: str, value: object) -> None:
    data = {section: {field: value}} if section else {field: value}
    with pytest.raises(ValueError, match=field):
        LLMSettings.model_validate(data)


def test_served_name_prefers_the_configured_model() -> None:
    llm = LLMSettings(server="vllm", vllm=VllmSettings(model=Path("/m/Big-Model")), model="big")
    assert llm.served_name == "big"
    assert LLMSettings(server="vllm").served_name == "qwen2.5-coder-1.5b"


def test_served_name_is_the_gguf_run_instead_of_the_packaged_model() -> None:
    # an evaluation report names the weights it measured, not the packaged default
    llm = LLMSettings(llama_cpp=LlamaCppSettings(model_path=Path("/m/qwen-7b-q4_0.gguf")))
    assert llm.served_name == "qwen-7b-q4_0"
    assert LLMSettings().served_name == "qwen2.5-coder-1.5b"


def test_server_is_picked_by_name(tmp_path: Path) -> None:
    assert type(make_server(LLMSettings(), tmp_path, tmp_path)) is LocalServer
    vllm = make_server(LLMSettings(server="vllm"), tmp_path, tmp_path)
    assert type(vllm) is VllmServer
    assert vllm.log_path == tmp_path / "vllm-server.log"


def test_vllm_command_on_cpu(tmp_path: Path) -> None:
    model = _folder(tmp_path / "Qwen2.5-7B-Instruct")
    vllm = VllmSettings(model=model, python=Path("/v/bin/python"), port=8123)
    settings = LLMSettings(server="vllm", vllm=vllm)
    server = VllmServer(settings, tmp_path, tmp_path, cuda=False)
    cmd = server.command(server.model_path())
    assert cmd[:3] == ["/v/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    args = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert args["--model"] == str(model)
    assert args["--served-model-name"] == "Qwen2.5-7B-Instruct"
    assert (args["--port"], args["--max-model-len"], args["--dtype"]) == ("8123", "4096", "auto")
    assert "--enforce-eager" in cmd
    assert "--gpu-memory-utilization" not in cmd
    env = server.env()
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert env["VLLM_CPU_OMP_THREADS_BIND"]
    assert env["HF_HUB_OFFLINE"] == "1"


def test_vllm_command_on_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    vllm = VllmSettings(
        model=_folder(tmp_path / "m"), gpu_memory=0.6, args=["--tensor-parallel-size", "2"]
    )
    settings = LLMSettings(server="vllm", vllm=vllm)
    server = VllmServer(settings, tmp_path, tmp_path, cuda=True)
    cmd = server.command(server.model_path())
    assert cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.6"
    assert cmd[-2:] == ["--tensor-parallel-size", "2"]
    assert "--enforce-eager" not in cmd
    assert "VLLM_CPU_OMP_THREADS_BIND" not in server.env()


def test_threads_limit_the_cores_vllm_is_bound_to(tmp_path: Path) -> None:
    settings = LLMSettings(server="vllm", vllm=VllmSettings(threads=1))
    server = VllmServer(settings, tmp_path, tmp_path, cuda=False)
    assert server.env()["VLLM_CPU_OMP_THREADS_BIND"].isdigit()


def test_cpu_list_is_written_as_ranges() -> None:
    assert _cpu_list([0, 1]) == "0-1"
    assert _cpu_list([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"


def test_missing_vllm_says_to_run_make_vllm(tmp_path: Path) -> None:
    settings = LLMSettings(server="vllm", vllm=VllmSettings(python=tmp_path / "nope" / "python"))
    with pytest.raises(ModelError, match="make vllm"):
        VllmServer(settings, tmp_path, tmp_path, cuda=False).start()


def test_a_folder_without_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    vllm = VllmSettings(model=tmp_path / "empty", python=Path(sys.executable))
    settings = LLMSettings(server="vllm", vllm=vllm)
    with pytest.raises(ModelError, match=r"no config\.json"):
        VllmServer(settings, tmp_path, tmp_path, cuda=False).start()


def test_a_server_that_dies_names_its_log(tmp_path: Path) -> None:
    """What a broken vLLM install does: the process exits at once; the error points at the log."""
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'No module named vllm' >&2\nexit 1\n")
    python.chmod(0o755)
    vllm = VllmSettings(model=_folder(tmp_path / "m"), python=python)
    settings = LLMSettings(server="vllm", vllm=vllm)
    server = VllmServer(settings, tmp_path, tmp_path / "logs", cuda=False)
    with pytest.raises(ModelError, match=r"exited with code 1; see .*vllm-server\.log"):
        server.start()
    assert "No module named vllm" in server.log_path.read_text()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state  # a zombie has exited, waiting only to be reaped


def test_stop_ends_the_servers_children_too(tmp_path: Path) -> None:
    """vLLM's API server forks an engine, which forks a worker: none may outlive stop()."""
    server = VllmServer(LLMSettings(server="vllm"), tmp_path, tmp_path, cuda=False)
    pid_file = tmp_path / "child.pid"
    # A parent that exits on SIGTERM and leaves a child behind that ignores it.
    script = f"(trap '' TERM; sleep 300) & echo $! > {pid_file}; wait"
    server.process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    while not pid_file.exists() or not pid_file.read_text().strip():
        time.sleep(0.05)
    child = int(pid_file.read_text())
    server.stop()
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def test_llama_cpp_skips_the_logits_of_prompt_tokens(tmp_path: Path) -> None:
    """Computing them would only serve logprobs, which kbqa never asks for."""
    command = LocalServer(LLMSettings(), tmp_path, tmp_path).command(tmp_path / "m.gguf")
    assert command[command.index("--logits_all") + 1] == "false"


def test_llama_cpp_keeps_a_cache_of_prompt_states(tmp_path: Path) -> None:
    """So alternating strategies each find their own system prompt already read."""
    command = LocalServer(LLMSettings(), tmp_path, tmp_path).command(tmp_path / "m.gguf")
    assert command[command.index("--cache") + 1] == "true"
    assert int(command[command.index("--cache_size") + 1]) >= 64 * 2**20


def test_llama_cpp_prompt_cache_can_be_turned_off(tmp_path: Path) -> None:
    """The benchmark turns it off, so that no request is timed off another one's state."""
    settings = LLMSettings(llama_cpp=LlamaCppSettings(prompt_cache_mb=0))
    command = LocalServer(settings, tmp_path, tmp_path).command(tmp_path / "m.gguf")
    assert "--cache" not in command
    settings = LLMSettings(llama_cpp=LlamaCppSettings(prompt_cache_mb=32))
    command = LocalServer(settings, tmp_path, tmp_path).command(tmp_path / "m.gguf")
    assert command[command.index("--cache_size") + 1] == str(32 * 2**20)
