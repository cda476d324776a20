from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from core.errors import ModelAssetError
from generation.assets import PackagedModel, ensure_model, requantize


def _fake_parts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, blobs: list[bytes]) -> None:
    for i, blob in enumerate(blobs, start=1):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(blob)
        module = types.ModuleType(f"fake_part{i}")
        module.get_part_path = lambda p=path: str(p)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"fake_part{i}", module)


def _model(data: bytes, parts: int) -> PackagedModel:
    return PackagedModel(
        name="fake",
        filename="fake.gguf",
        module_prefix="fake_part",
        parts=parts,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        install_hint="fake",
    )


def test_parts_are_joined_in_order_and_verified(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_parts(monkeypatch, tmp_path, [b"GGUF-one-", b"two-", b"three"])
    path = ensure_model(_model(b"GGUF-one-two-three", 3), tmp_path / "models")
    assert path.read_bytes() == b"GGUF-one-two-three"
    assert ensure_model(_model(b"GGUF-one-two-three", 3), tmp_path / "models") == path


def test_checksum_mismatch_is_refused_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_parts(monkeypatch, tmp_path, [b"GGUF-one-", b"tampered"])
    models = tmp_path / "models"
    with pytest.raises(ModelAssetError, match="refusing"):
        ensure_model(_model(b"GGUF-one-two", 2), models)
    assert list(models.iterdir()) == []


def test_missing_part_names_the_package(tmp_path: Path) -> None:
    model = PackagedModel("m", "m.gguf", "no_such_part", 1, 1, "0" * 64, "kbqa[extra]")
    with pytest.raises(ModelAssetError, match=r"no-such-part1.*kbqa\[extra\]"):
        ensure_model(model, tmp_path)


@pytest.fixture(scope="module")
def packaged_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged 0.5B model, linked into a folder of the test's own (requantize writes
    beside its source)."""
    from core.settings import Settings
    from generation.assets import PACKAGED_MODELS

    source = ensure_model(PACKAGED_MODELS["qwen2.5-coder-0.5b"], Settings().models_dir)
    link = tmp_path_factory.mktemp("models") / source.name
    link.symlink_to(source)
    return link


@pytest.mark.slow
def test_requantize_writes_q4_0_weights_once(packaged_gguf: Path) -> None:
    from gguf import GGMLQuantizationType, GGUFReader

    target = requantize(packaged_gguf, "q4_0")
    assert target.name == "qwen2.5-coder-0.5b-instruct-q4_0-requantized.gguf"
    kinds = {t.tensor_type for t in GGUFReader(target).tensors if len(t.shape) == 2}
    assert GGMLQuantizationType.Q4_0 in kinds
    assert not kinds & {GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q6_K}
    made = target.stat().st_mtime_ns
    assert requantize(packaged_gguf, "q4_0") == target
    assert target.stat().st_mtime_ns == made  # made once, then reused


def test_a_file_llama_cpp_cannot_read_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "broken-q4_k_m.gguf"
    source.write_bytes(b"not a gguf file")
    with pytest.raises(ModelAssetError, match="could not re-quantize broken-q4_k_m.gguf"):
        requantize(source, "q4_0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken-q4_k_m.gguf"]


def test_the_server_runs_the_packaged_model_requantized_as_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.settings import LLMSettings
    from generation import server

    packaged = tmp_path / "m-q4_k_m.gguf"
    monkeypatch.setattr(server, "ensure_model", lambda model, models_dir: packaged)
    monkeypatch.setattr(server, "requantize", lambda path, kind: path.with_name(f"m-{kind}.gguf"))
    for kind, expected in (("q4_0", "m-q4_0.gguf"), ("q8_0", "m-q8_0.gguf"), (None, packaged.name)):
        settings = LLMSettings.model_validate({"llama_cpp": {"quantization": kind}})
        assert server.LocalServer(settings, tmp_path, tmp_path).model_path().name == expected
