"""MkDocs hook: the settings reference, written from ``core.settings`` at each build.

``docs/settings.md`` holds the marker below; this hook puts in its place one table per
section of :class:`core.settings.Settings` (every field: its variable, type, default and
description), so the page cannot drift from the code."""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # `mkdocs build` from a checkout, installed or not

from core.settings import PROJECT_ROOT, Settings  # noqa: E402

MARKER = "<!-- settings-reference -->"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs' hook: the marker becomes the reference."""
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown


def reference() -> str:
    """Markdown: a heading and a table per settings section, top level first."""
    return "\n\n".join(_section(title, rows) for title, rows in sections(Settings))


def sections(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[tuple[str, list[str]]]:
    """``(heading, table rows)`` for ``model``'s own fields, then each nested section's."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        if sub is not None:
            nested += sections(sub, (*path, name))
        else:
            rows.append(_row((*path, name), field))
    title = ".".join(path) or "top level"
    return [(title, rows), *nested] if rows else nested


def env_name(path: tuple[str, ...]) -> str:
    """``("llm", "vllm", "model")`` -> ``KBQA_LLM__VLLM__MODEL``."""
    return "KBQA_" + "__".join(part.upper() for part in path)


def _section(title: str, rows: list[str]) -> str:
    head = "| variable | type | default | what |\n|---|---|---|---|"
    return f"### `{title}`\n\n" + "\n".join([head, *rows])


def _row(path: tuple[str, ...], field: FieldInfo) -> str:
    cells = (
        f"`{env_name(path)}`",
        f"`{_type_name(field.annotation)}`",
        f"`{_default(field)}`",
        (field.description or "").replace("|", "\\|").replace("\n", " "),
    )
    return "| " + " | ".join(cell.replace("``", "") for cell in cells) + " |"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{args}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, Path):  # the same page whoever builds it
        return _portable(value)
    if value is None:
        return "unset"
    return value if isinstance(value, str) else json.dumps(value)  # as the variable is written


def _portable(path: Path) -> str:
    if path.is_relative_to(PROJECT_ROOT):
        return str(path.relative_to(PROJECT_ROOT))
    if path.is_relative_to(Path.home()):
        return "~/" + str(path.relative_to(Path.home()))
    return str(path)
