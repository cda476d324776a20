"""Which build of llama.cpp's CPU backend runs the chat model: the best one the CPU can run.

``make install`` builds llama-cpp-python with ``GGML_BACKEND_DL`` and five variants of the CPU
backend (``patches/llama-cpp-python.patch``): any x86-64, AVX2 (haswell), AVX-VNNI without
AVX-512 (alderlake), AVX-512 with VNNI (icelake) and AMX (sapphirerapids). Each is a library
of its own in ``llama_cpp/lib``; ggml asks each for its score on this CPU (0 where the CPU
lacks an instruction it uses) and loads the best, so the build runs where it was built and on
any other x86-64 CPU, never executing an instruction the CPU does not have.

ggml looks for the variants beside the executable and in the working directory, neither of
which is llama_cpp's folder, so :func:`load_cpu_backend` points it there before a model loads.
A llama-cpp-python built the usual way (one CPU backend linked in) has no variants: then
nothing is loaded here and llama.cpp runs as built.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path
from typing import get_args

from core.errors import ModelError
from core.settings import CpuVariant

VARIANTS: tuple[str, ...] = get_args(CpuVariant)


class _Feature(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_char_p)]


@functools.cache
def _ggml() -> tuple[ctypes.CDLL, Path]:
    """ggml's backend registry as libllama uses it, and the folder of llama_cpp's libraries.

    The wheel holds libggml.so and libggml.so.0 as two files (a wheel keeps no links), and
    each loaded is a registry of its own; libllama uses ``libggml.so.0``, which importing
    llama_cpp has loaded, so the same file is opened here (``llama_cpp._ggml`` opens the other).
    """
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    linked = lib_dir / "libggml.so.0"
    lib = ctypes.CDLL(str(linked if linked.is_file() else lib_dir / "libggml.so"))
    lib.ggml_backend_load.restype = ctypes.c_void_p
    lib.ggml_backend_load.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_reg_by_name.restype = ctypes.c_void_p
    lib.ggml_backend_reg_by_name.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
    lib.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    return lib, lib_dir


def variants_installed() -> list[str]:
    """The CPU backend variants this llama-cpp-python has, in :data:`VARIANTS` order."""
    _, lib_dir = _ggml()
    return [v for v in VARIANTS if (lib_dir / f"libggml-cpu-{v}.so").is_file()]


def load_cpu_backend(variant: str | None = None) -> list[str]:
    """Load the CPU backend into this process before any model: the best variant for this
    CPU, or ``variant`` (to compare them, ``kbqa bench llm``). Returns the features the loaded
    backend uses (:func:`cpu_features`), none for a build without variants.

    Raises:
        ModelError: ``variant`` is not installed, or the CPU cannot run it.
    """
    lib, lib_dir = _ggml()
    installed = variants_installed()
    if not installed:
        if variant is not None:
            raise ModelError(
                f"llama-cpp-python has no CPU backend variants, so not {variant!r}: "
                "`make install` builds them"
            )
        return []
    if variant is None:
        lib.ggml_backend_load_all_from_path(str(lib_dir).encode())
    elif variant not in installed:
        raise ModelError(
            f"CPU backend variant must be one of {', '.join(installed)}, got {variant!r}"
        )
    elif not lib.ggml_backend_load(str(lib_dir / f"libggml-cpu-{variant}.so").encode()):
        raise ModelError(f"this CPU cannot run llama.cpp's {variant!r} CPU backend")
    return cpu_features()


def cpu_features() -> list[str]:
    """What the loaded CPU backend was built to use, sorted: ``["AMX_INT8", "AVX2", ...]``
    (ggml lists each feature with the value "1" where it is on)."""
    lib, _ = _ggml()
    reg = lib.ggml_backend_reg_by_name(b"CPU")
    if not reg:
        return []
    address = lib.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_get_features")
    if not address:
        return []
    get = ctypes.CFUNCTYPE(ctypes.POINTER(_Feature), ctypes.c_void_p)(address)
    features, i, used = get(reg), 0, []
    while features[i].name:
        if features[i].value == b"1":
            used.append(features[i].name.decode())
        i += 1
    return sorted(used)
