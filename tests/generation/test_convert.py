"""GGUF -> Hugging Face folder, on a tiny GGUF model made for the test (the packaged one takes
minutes: tests/e2e/test_vllm.py converts it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from gguf import GGUFReader
from safetensors.torch import load_file

from core.errors import ModelAssetError
from generation import convert
from tests.utils.gguf import CHAT_TEMPLATE, make_tiny_gguf


def test_folder_holds_the_weights_tokenizer_and_chat_template(tmp_path: Path) -> None:
    gguf = make_tiny_gguf(tmp_path / "tiny.gguf")
    out = convert.convert_gguf(gguf, tmp_path / "tiny-hf", dtype="float32")
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "qwen2"
    assert "quantization_config" not in config  # else vLLM would look for GGUF blocks
    weights = load_file(out / "model.safetensors")
    tensors = {t.name: t for t in GGUFReader(gguf).tensors}
    for gguf_name, hf_name in [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("blk.0.attn_k.bias", "model.layers.0.self_attn.k_proj.bias"),
        ("output.weight", "lm_head.weight"),
    ]:
        expected = torch.from_numpy(tensors[gguf_name].data.copy())
        assert torch.equal(weights[hf_name], expected.reshape(weights[hf_name].shape)), hf_name
    assert (out / "chat_template.jinja").read_text() == CHAT_TEMPLATE
    assert not (tmp_path / "tiny-hf.partial").exists()


def test_bfloat16_is_the_default(tmp_path: Path) -> None:
    out = convert.convert_gguf(make_tiny_gguf(tmp_path / "tiny.gguf"), tmp_path / "hf")
    assert load_file(out / "model.safetensors")["lm_head.weight"].dtype == torch.bfloat16


def test_a_failed_conversion_leaves_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = make_tiny_gguf(tmp_path / "tiny.gguf")
    out = tmp_path / "hf"
    out.mkdir()
    (out / "config.json").write_text("{}")

    def broken(folder: Path, template: str | None = None) -> None:
        raise ModelAssetError("the chat template was not kept")

    monkeypatch.setattr(convert, "check_folder", broken)
    with pytest.raises(ModelAssetError):
        convert.convert_gguf(gguf, out)
    assert (out / "config.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "tiny.gguf"]
    monkeypatch.undo()
    convert.convert_gguf(gguf, out)
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen2"
    assert not (tmp_path / "hf.old").exists()


def test_a_gguf_without_chat_template_is_refused(tmp_path: Path) -> None:
    gguf = make_tiny_gguf(tmp_path / "tiny.gguf", chat_template=None)
    with pytest.raises(ModelAssetError, match="no chat template"):
        convert.convert_gguf(gguf, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_bad_dtype_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="int8"):
        convert.convert_gguf(tmp_path / "x.gguf", tmp_path / "hf", dtype="int8")
    with pytest.raises(ModelAssetError, match="does not exist"):
        convert.convert_gguf(tmp_path / "x.gguf", tmp_path / "hf")
