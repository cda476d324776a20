"""The documentation site: its settings page is written from the code, and every page the
navigation and the README name exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from pydantic import BaseModel

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_hook", ROOT / "docs/_hooks/settings.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _leaves(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    leaves = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            leaves += _leaves(kind, (*path, name))
        else:
            leaves.append((*path, name))
    return leaves


def test_the_settings_reference_lists_every_setting_with_its_description() -> None:
    hook = _hook()
    reference = hook.reference()
    leaves = _leaves(Settings)
    assert len(leaves) > 50
    for path in leaves:
        assert f"`{hook.env_name(path)}`" in reference
    assert "`KBQA_LLM__VLLM__MODEL`" in reference  # sections nested twice too
    assert "| `KBQA_RETRIEVAL__RERANKER` | `'maxsim' | 'cross-encoder' | 'none'` | `maxsim` |" in (
        reference
    )


def test_the_settings_page_holds_the_marker_the_hook_replaces() -> None:
    hook = _hook()
    page = (ROOT / "docs/settings.md").read_text()
    assert hook.MARKER in page
    assert hook.on_page_markdown(page).count("KBQA_INDEX__BACKEND") >= 1


def test_every_page_named_in_the_navigation_and_the_readme_exists() -> None:
    named = re.findall(r":\s+([\w-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)
    named += re.findall(r"\]\(docs/([\w/.-]+)\)", (ROOT / "README.md").read_text())
    assert len(named) > 10
    assert [name for name in named if not (ROOT / "docs" / name).exists()] == []
