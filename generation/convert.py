"""GGUF chat model -> Hugging Face model folder, for vLLM, which loads no GGUF.

transformers reads the GGUF file (weights dequantized, the tokenizer and its chat template
rebuilt from the file's metadata) and saves it as safetensors. Needs ``pip install
'kbqa[convert]'`` (the ``gguf`` reader and accelerate).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from core.errors import ModelAssetError
from generation.assets import PackagedModel, ensure_model

log = logging.getLogger(__name__)

DTYPES = ("bfloat16", "float16", "float32")


def hf_folder(model: PackagedModel, models_dir: Path) -> Path:
    """Where a packaged model's converted folder lives: ``models/<name>-hf``."""
    return models_dir / f"{model.name}-hf"


def ensure_hf_model(model: PackagedModel, models_dir: Path, dtype: str = "bfloat16") -> Path:
    """The packaged model as a Hugging Face folder, converted on first use (minutes on a CPU).

    The folder is renamed into place only once complete, so one that exists is whole.
    """
    target = hf_folder(model, models_dir)
    if (target / "config.json").is_file():
        return target
    return convert_gguf(ensure_model(model, models_dir), target, dtype)


def convert_gguf(gguf: Path, out: Path, dtype: str = "bfloat16") -> Path:
    """Write the model and tokenizer of a GGUF file to the folder ``out``, atomically.

    Args:
        gguf: a GGUF file of an architecture transformers reads (Qwen2, Llama, Mistral, ...).
        out: the folder to create; an existing one is replaced only once the new one is whole.
        dtype: dtype of the saved weights. bfloat16 is the Qwen2.5 models' own, half the size
            of float32, and what vLLM ran fastest here on the CPU.

    Returns:
        ``out``.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if not gguf.is_file():
        raise ModelAssetError(f"GGUF file {gguf} does not exist")
    template = gguf_chat_template(gguf)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("converting %s to %s (%s)", gguf, out, dtype)
    try:
        model, tokenizer = _load(gguf, dtype)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        check_folder(tmp, template)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _replace_dir(tmp, out)
    return out


def _load(gguf: Path, dtype: str) -> tuple[Any, Any]:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as exc:
        raise ModelAssetError(
            "converting a GGUF model needs transformers with gguf support: "
            "pip install 'kbqa[convert]'"
        ) from exc
    kwargs = {"gguf_file": gguf.name}
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
        # Dequantized on load, so that the weights are plain tensors that save as safetensors.
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            dtype=getattr(torch, dtype),
            quantization_config=GgufConfig(dequantize=True),
            **kwargs,
        )
    except (ImportError, ValueError) as exc:  # gguf or accelerate missing, unknown architecture
        raise ModelAssetError(f"cannot convert {gguf.name}: {exc}") from exc
    # The GGUF quantizer refuses to save (its packed blocks are not serializable). Dequantized,
    # nothing of it is left in the weights: drop it, or config.json tells vLLM to load GGUF.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


def gguf_chat_template(gguf: Path) -> str:
    """The chat template stored in a GGUF file's metadata."""
    from gguf import GGUFReader

    field = GGUFReader(gguf).fields.get("tokenizer.chat_template")
    if field is None:
        raise ModelAssetError(f"{gguf.name} holds no chat template; vLLM could not chat with it")
    return str(field.contents())


def check_folder(folder: Path, template: str | None = None) -> None:
    """Refuse a converted folder whose tokenizer cannot format a chat (or lost the template)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if template is not None and tokenizer.chat_template != template:
        raise ModelAssetError(f"{folder}: the chat template was not kept")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "ping"}], tokenize=False, add_generation_prompt=True
    )
    if "ping" not in text:
        raise ModelAssetError(f"{folder}: the chat template drops the user's message")


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an old ``target`` is moved aside first, then removed."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
