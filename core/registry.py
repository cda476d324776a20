"""One way to pick a pluggable part by name from settings: a :class:`Registry` per kind of part.

A part is registered under its name either where it is defined (``@registry.register("name")``)
or by reference, ``"module:attribute"``, which the registry imports the first time the name is
asked for, as an entry point is loaded. By reference, the module that picks a part need not
import every part, nor they it: no import circle forms (tests/test_architecture.py forbids
them), and a part whose dependencies are not installed costs nothing until it is picked. A name
is taken once; an unknown name is refused with the names that are known.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Parts of one kind by name, e.g. ``Registry("index backend", {"local": "index.x:open"})``."""

    def __init__(self, kind: str, references: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._parts: dict[str, T] = {}
        self._references = dict(references or {})
        self._lock = threading.Lock()

    def add(self, name: str, part: T) -> T:
        """Register ``part`` under ``name``; a name already taken is a ValueError."""
        with self._lock:
            if name in self._parts or name in self._references:
                raise ValueError(f"a {self.kind} named {name!r} is registered already")
            self._parts[name] = part
        return part

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda part: self.add(name, part)

    def names(self) -> list[str]:
        """Every name known, loaded or not, sorted."""
        return sorted(self._parts.keys() | self._references.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._parts or name in self._references

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def get(self, name: str) -> T:
        """The part registered as ``name``, imported now if it was registered by reference."""
        with self._lock:
            if name not in self._parts and name in self._references:
                module, _, attribute = self._references[name].partition(":")
                self._parts[name] = getattr(importlib.import_module(module), attribute)
                del self._references[name]
        if name not in self._parts:
            known = ", ".join(self.names()) or "none"
            raise ValueError(f"no {self.kind} named {name!r}; known: {known}")
        return self._parts[name]
