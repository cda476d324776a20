from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from core.errors import ModelAssetError
from generation.assets import PackagedModel, ensure_model


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
