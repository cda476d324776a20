"""`make install` picks the CUDA builds where nvidia-smi lists a GPU, the CPU builds elsewhere.

The Makefile runs for real against a stand-in venv whose pip and python only log what they
are asked (and answer like a venv with a CPU torch), with a stand-in nvidia-smi on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")

FAKE_PIP = """#!/bin/sh
echo "pip $*" >> "$STATE/log"
case "$1" in
  show) grep -qx "$3" "$STATE/installed" ;;
  install) case "$*" in *"--force-reinstall"*torch*) touch "$STATE/cuda" ;; esac ;;
esac
"""
# `python -c CODE`: torch.version.cuda is set once a CUDA torch was installed; the GPU is seen.
FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$STATE/log"
case "$2" in *torch.version.cuda*) [ -e "$STATE/cuda" ] ;; *) true ;; esac
"""


def _llama_stamp() -> str:
    """The stamp of the torch and llama.cpp build, named as the Makefile names it: were the
    test to miss it, make would build both for real into the stand-in venv."""
    text = (ROOT / "Makefile").read_text()
    version = re.search(r"^LLAMA_CPP_VERSION := (\S+)$", text, re.MULTILINE)
    stamp = re.search(r"^LLAMA_STAMP := \$\(VENV\)/(\S+)$", text, re.MULTILINE)
    assert version is not None
    assert stamp is not None
    return stamp.group(1).replace("$(LLAMA_CPP_VERSION)", version.group(1))


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def install(
    tmp_path: Path,
    *,
    gpu_listed: bool | None,
    installed: str = "",
    cuda_torch: bool = False,
    args: tuple[str, ...] = (),
) -> str:
    """Run `make install` on a stand-in venv; returns what pip and python were asked.
    ``gpu_listed``: None, no nvidia-smi; else whether `nvidia-smi -L` lists a GPU."""
    venv, state, tools = tmp_path / "venv", tmp_path / "state", tmp_path / "tools"
    for folder in (venv / "bin", state, tools):
        folder.mkdir(parents=True)
    _script(venv / "bin" / "pip", FAKE_PIP)
    _script(venv / "bin" / "python", FAKE_PYTHON)
    (venv / _llama_stamp()).touch()  # torch and llama.cpp: there already
    (state / "installed").write_text(installed)
    (state / "log").touch()
    if cuda_torch:
        (state / "cuda").touch()
    if gpu_listed is not None:
        listing = 'echo "GPU 0: NVIDIA H100 80GB HBM3"' if gpu_listed else "exit 6"
        _script(tools / "nvidia-smi", f"#!/bin/sh\n{listing}\n")
    env = {**os.environ, "STATE": str(state), "PATH": f"{tools}:/usr/bin:/bin"}
    subprocess.run(
        ["make", "-s", "-C", str(ROOT), "install", f"VENV={venv}", *args],
        env=env,
        check=True,
        capture_output=True,
    )
    return (state / "log").read_text()


def test_no_nvidia_smi_installs_the_cpu_builds(tmp_path: Path) -> None:
    log = install(tmp_path, gpu_listed=None)
    assert "pip install -e .[cpu,llm," in log
    assert "torch" not in log
    assert "uninstall" not in log


def test_an_nvidia_smi_that_lists_no_gpu_installs_the_cpu_builds(tmp_path: Path) -> None:
    assert "pip install -e .[cpu," in install(tmp_path, gpu_listed=False)


def test_a_listed_gpu_installs_cuda_torch_and_faiss_gpu_in_place_of_faiss_cpu(
    tmp_path: Path,
) -> None:
    log = install(tmp_path, gpu_listed=True, installed="faiss-cpu\n")
    lines = log.splitlines()
    uninstall = lines.index("pip uninstall -y faiss-cpu faiss-gpu")
    torch = lines.index("pip install --force-reinstall --no-deps torch==2.13.0")
    package = lines.index("pip install -e .[gpu,llm,convert,bench,test,dev,docs,milvus,postgres]")
    assert uninstall < torch < package  # the CPU torch was replaced before kbqa came


def test_gpu_0_keeps_the_cpu_builds_on_a_gpu_machine(tmp_path: Path) -> None:
    log = install(tmp_path, gpu_listed=True, args=("GPU=0",))
    assert "pip install -e .[cpu," in log
    assert "torch" not in log


def test_an_older_cuda_index_can_be_named(tmp_path: Path) -> None:
    index = "https://download.pytorch.org/whl/cu128"
    log = install(tmp_path, gpu_listed=True, args=(f"TORCH_CUDA_INDEX={index}",))
    assert f"--no-deps torch==2.13.0 --index-url {index}" in log


def test_a_cuda_torch_is_kept_and_gpu_1_needs_no_nvidia_smi(tmp_path: Path) -> None:
    log = install(tmp_path, gpu_listed=None, cuda_torch=True, args=("GPU=1",))
    assert "pip install -e .[gpu," in log
    assert "--force-reinstall" not in log
