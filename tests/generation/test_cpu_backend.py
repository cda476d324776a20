"""llama.cpp's CPU backend: the best build this CPU runs is loaded, and none it cannot run.

Each load runs in a process of its own, as kbqa's chat server does: a process loads one CPU
backend. Where `qemu-x86_64` is installed (Debian's qemu-user), a CPU without AVX-512 and AMX
is emulated, to show that the same install picks a build that CPU can run, and runs a model on
it without an illegal instruction.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from core.errors import ModelError  # noqa: E402
from generation.cpu_backend import VARIANTS, load_cpu_backend, variants_installed  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = variants_installed()
needs_variants = pytest.mark.skipif(
    not INSTALLED,
    reason="llama-cpp-python was built without CPU variants (make install builds them)",
)


def _features_in_child(variant: str | None, prefix: tuple[str, ...] = ()) -> set[str]:
    code = (
        "import json; from generation.cpu_backend import load_cpu_backend; "
        f"print(json.dumps(load_cpu_backend({variant!r})))"
    )
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def test_a_build_without_variants_runs_as_built() -> None:
    if INSTALLED:
        pytest.skip("this llama-cpp-python has CPU variants")
    assert load_cpu_backend() == []
    with pytest.raises(ModelError, match="no CPU backend variants"):
        load_cpu_backend("icelake")


@needs_variants
def test_the_install_has_every_variant() -> None:
    assert list(VARIANTS) == INSTALLED


@needs_variants
def test_the_best_build_for_this_cpu_is_loaded() -> None:
    used = _features_in_child(None)
    flags = _cpu_flags()
    if "amx_int8" in flags:
        assert {"AMX_INT8", "AVX512"} <= used
    elif "avx512_vnni" in flags:
        assert {"AVX512", "AVX512_VNNI"} <= used
    elif "avx2" in flags:
        assert "AVX2" in used


@needs_variants
def test_a_named_build_is_loaded_and_an_unknown_one_refused() -> None:
    used = _features_in_child("haswell")
    assert "AVX2" in used
    assert "AVX512" not in used
    with pytest.raises(ModelError, match="must be one of"):
        load_cpu_backend("pentium")


QEMU = shutil.which("qemu-x86_64")


@needs_variants
@pytest.mark.slow
@pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 (Debian qemu-user) is not installed")
def test_on_a_cpu_without_avx512_the_install_picks_a_build_it_can_run() -> None:
    """QEMU emulates a Haswell: AVX2, no AVX-512, no AMX, as its CPUID says."""
    used = _features_in_child(None, (str(QEMU), "-cpu", "Haswell"))
    assert "AVX2" in used
    assert not used & {"AVX512", "AVX512_VNNI", "AMX_INT8"}


def _answer_in_child(model: Path, prefix: tuple[str, ...] = ()) -> str:
    """The packaged model's greedy continuation, from a child process that loads the CPU
    backend as kbqa's server does."""
    code = (
        "from generation.cpu_backend import load_cpu_backend; load_cpu_backend(); "
        "from llama_cpp import Llama; "
        f"llm = Llama(model_path={str(model)!r}, n_ctx=64, n_threads=2, verbose=False); "
        "out = llm('The capital of France is', max_tokens=3, temperature=0); "
        "print(out['choices'][0]['text'])"
    )
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # -4 would be SIGILL
    return done.stdout.strip()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from generation.assets import PACKAGED_MODELS, ensure_model

    return ensure_model(PACKAGED_MODELS["qwen2.5-coder-0.5b"], tmp_path_factory.mktemp("models"))


@needs_variants
@pytest.mark.slow
@pytest.mark.e2e
def test_the_model_runs_on_the_build_loaded_for_this_cpu(model: Path) -> None:
    """On an AMX CPU this is the AMX kernels, which died with SIGILL before the patch."""
    assert "Paris" in _answer_in_child(model)


@needs_variants
@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 (Debian qemu-user) is not installed")
def test_on_a_cpu_without_avx512_the_model_answers_without_an_illegal_instruction(
    model: Path,
) -> None:
    """The packaged model reads a prompt and writes tokens on the emulated Haswell."""
    assert "Paris" in _answer_in_child(model, (str(QEMU), "-cpu", "Haswell"))
