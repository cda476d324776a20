"""Pluggable parts by name: registered in place or by reference, each name once, an unknown name
refused with the known ones."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest

from core.registry import Registry


def test_a_part_registered_by_reference_is_imported_when_first_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    parts: Registry[object] = Registry("colour model", {"hls": "colorsys:rgb_to_hls"})
    assert "colorsys" not in sys.modules
    assert parts.names() == ["hls"]
    assert parts.get("hls")(1.0, 0.0, 0.0) == (0.0, 0.5, 1.0)
    assert "colorsys" in sys.modules


def test_a_name_is_taken_once_in_place_or_by_reference() -> None:
    parts: Registry[object] = Registry("codec", {"json": "json:dumps"})
    parts.register("repr")(repr)
    assert parts.get("repr") is repr
    assert parts.get("json") is json.dumps
    with pytest.raises(ValueError, match="a codec named 'repr' is registered already"):
        parts.add("repr", str)
    with pytest.raises(ValueError, match="a codec named 'json' is registered already"):
        parts.add("json", str)


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    parts: Registry[object] = Registry("index backend", {"local": "json:dumps", "milvus": "x:y"})
    with pytest.raises(ValueError, match=r"no index backend named 'pg'; known: local, milvus"):
        parts.get("pg")
    assert "milvus" in parts
    assert "pg" not in parts


def _registries() -> dict[str, Registry[Any]]:
    from generation.backends import BACKENDS as CHAT_BACKENDS
    from generation.dialects import DIALECTS
    from generation.server import SERVERS
    from index.backend import BACKENDS as INDEX_BACKENDS
    from index.embedders import EMBEDDERS
    from ingest.ocr import ENGINES
    from retrieval.rerankers import RERANKERS
    from state.backend import BACKENDS as STATE_BACKENDS

    return {
        "index backend": INDEX_BACKENDS,
        "state backend": STATE_BACKENDS,
        "embedder": EMBEDDERS,
        "reranker": RERANKERS,
        "OCR engine": ENGINES,
        "chat backend": CHAT_BACKENDS,
        "chat server": SERVERS,
        "server dialect": DIALECTS,
    }


@pytest.mark.parametrize("kind", list(_registries()))
def test_every_pluggable_part_is_picked_through_one_registry(kind: str) -> None:
    registry = _registries()[kind]
    assert registry.kind == kind
    known = ", ".join(registry.names())
    with pytest.raises(ValueError, match=f"no {kind} named 'nope'; known: {re.escape(known)}$"):
        registry.get("nope")
