"""The house's floors. Data flows one way: core <- index <- ingest/retrieval, core <- generation,
core <- state (originals, conversations, jobs: what is not the index),
all of them <- kbqa (the service) <- api and evaluation <- bench (which measures the API and the
stages) <- cli, the ``kbqa`` command on the top floor, which starts the API and the UI, runs the
evaluation and the benchmarks. ui talks to the API over HTTP and imports only core's types.

No package imports one above it and there is no package cycle; there are no exceptions. The
API's routes call the service and nothing under it."""

from __future__ import annotations

import ast
import functools
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BELOW = {  # each package -> the packages it may import
    "core": set(),
    "index": {"core"},
    "state": {"core"},
    "ingest": {"core", "index"},
    "retrieval": {"core", "index"},
    "generation": {"core"},
    "kbqa": {"core", "index", "state", "ingest", "retrieval", "generation"},
    "api": {"core", "kbqa"},
    "evaluation": {"core", "kbqa"},
    "ui": {"core"},
    "bench": {
        "core",
        "index",
        "state",
        "ingest",
        "retrieval",
        "generation",
        "kbqa",
        "api",
        "evaluation",
    },
    "cli": {
        "core",
        "index",
        "state",
        "ingest",
        "retrieval",
        "generation",
        "kbqa",
        "api",
        "ui",
        "evaluation",
        "bench",
    },
}
# The service's parts: a route that needs one of them shows a method missing on the service.
SERVICE_PARTS = {"index", "ingestor", "conversations", "retriever", "generator", "embedder"}


@functools.cache
def _trees(package: str) -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text())
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imports(tree: ast.Module) -> set[str]:
    """The project packages a module imports, lazily inside functions too."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(BELOW)


def _graph() -> dict[str, set[str]]:
    """Each package -> the other packages it imports."""
    return {
        package: set().union(*map(_imports, _trees(package).values())) - {package}
        for package in BELOW
    }


@pytest.mark.parametrize("package", sorted(BELOW))
def test_a_package_imports_only_the_floors_below_it(package: str) -> None:
    wrong = {
        module: sorted(_imports(tree) - BELOW[package] - {package})
        for module, tree in _trees(package).items()
    }
    assert {m: n for m, n in wrong.items() if n} == {}


def test_there_is_no_package_cycle() -> None:
    graphlib.TopologicalSorter(_graph()).prepare()  # raises CycleError naming the cycle
    graphlib.TopologicalSorter(BELOW).prepare()  # and the plan itself has none to allow


def test_every_package_has_a_floor() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(BELOW)


def test_imports_are_absolute() -> None:
    relative = [
        module
        for package in BELOW
        for module, tree in _trees(package).items()
        if any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))
    ]
    assert relative == []


def test_routes_call_the_service_and_nothing_under_it() -> None:
    """``service.index.documents()`` in a route is a method the service lacks; peeking at
    ``service.__dict__`` is a question the service should answer (``service.ready``)."""
    reached = [
        f"{module}:{node.lineno}: service.{node.attr}"
        for module, tree in _trees("api").items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "service"
        and node.attr in SERVICE_PARTS | {"__dict__"}
    ]
    assert reached == []


def test_the_api_imports_the_service_and_nothing_under_it() -> None:
    """From kbqa, the API takes the service (kbqa.app) and the job queue it hands out."""
    modules = {
        f"{module}: {node.module}"
        for module, tree in _trees("api").items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").split(".")[0] == "kbqa"
        and node.module not in ("kbqa.app", "kbqa.jobs")
    }
    assert modules == set()


CODE_LOADERS = ("import pickle", "pickle.load", "torch.load(", "allow_pickle=True", "joblib.load")


def test_nothing_loads_a_code_executing_format() -> None:
    """The data directory holds SQLite, FAISS and JSON; nothing that runs code when read."""
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for package in BELOW
        for path in (ROOT / package).rglob("*.py")
        for needle in CODE_LOADERS
        if needle in path.read_text()
    ]
    assert offenders == []
