"""The house's floors. Data flows one way: core <- index <- ingest/retrieval, core <- generation,
core <- state (originals, conversations, jobs: what is not the index),
all of them <- kbqa (the service) <- api and evaluation <- cli, the ``kbqa`` command on the top
floor, which starts the API and the UI and runs the evaluation. ui talks to the API over HTTP and
imports only core's types. benchmarks/ measures the product from outside it: it may import any
package but the command line, none imports it, and the wheel leaves it out.

No package imports one above it, there is no package cycle and no circle of modules inside a
package; there are no exceptions. The
API's routes call the service and nothing under it."""

from __future__ import annotations

import ast
import functools
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE = {"core", "index", "state", "ingest", "retrieval", "generation", "kbqa"}  # and its floors
BELOW = {  # each package -> the packages it may import
    "core": set(),
    "index": {"core"},
    "state": {"core"},
    "ingest": {"core", "index"},
    "retrieval": {"core", "index"},
    "generation": {"core"},
    "kbqa": SERVICE - {"kbqa"},
    "api": {"core", "kbqa"},
    "evaluation": {"core", "kbqa"},
    "ui": {"core"},
    "cli": SERVICE | {"api", "ui", "evaluation"},
    "benchmarks": SERVICE | {"api", "evaluation"},
}
# The service's parts: a route that needs one of them shows a method missing on the service.
SERVICE_PARTS = {
    "index",
    "ingestor",
    "conversations",
    "state",
    "retriever",
    "generator",
    "embedder",
}


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


def _module(path: Path) -> str:
    """``index/knowledge.py`` -> ``index.knowledge``; ``index/__init__.py`` -> ``index``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_graph(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` -> the package's other modules it imports, lazily too."""
    trees = {_module(ROOT / path): tree for path, tree in _trees(package).items()}
    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {_owner(target, trees) for target in imported} - {name, ""}
    return graph


def _owner(target: str, modules: dict[str, ast.Module]) -> str:
    """The module ``target`` names, or a name in it; "" for one outside the package."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target


@pytest.mark.parametrize("package", sorted(BELOW))
def test_there_is_no_import_circle_inside_a_package(package: str) -> None:
    """Backends picked by name are registered by reference (core/registry.py), so the module
    that picks them need not import them."""
    graphlib.TopologicalSorter(_module_graph(package)).prepare()  # CycleError names the circle


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


@pytest.mark.parametrize(("package", "name"), [("api", "service"), ("evaluation", "kb")])
def test_routes_and_the_evaluation_call_the_service_and_nothing_under_it(
    package: str, name: str
) -> None:
    """``service.index.documents()`` in a route is a method the service lacks; peeking at
    ``service.__dict__`` is a question the service should answer (``service.ready``). The
    evaluation measures the service as the API serves it, through the same door."""
    reached = [
        f"{module}:{node.lineno}: {name}.{node.attr}"
        for module, tree in _trees(package).items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == name
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


def test_hf_hub_offline_is_set_in_one_place() -> None:
    """core/__init__.py sets it for every process (tests/core/test_offline.py); a second place
    would be a second rule."""
    places = [
        module
        for package in BELOW
        for module, tree in _trees(package).items()
        if any(isinstance(n, ast.Constant) and n.value == "HF_HUB_OFFLINE" for n in ast.walk(tree))
    ]
    assert places == ["core/__init__.py"]


def test_sentences_are_split_by_one_rule() -> None:
    """core.text.SENTENCE_END: a regex that ends sentences at CJK stops lives there alone."""
    places = [
        module
        for package in BELOW
        for module, tree in _trees(package).items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"compile", "split"}
        and any(isinstance(a, ast.Constant) and "。！？" in str(a.value) for a in node.args)
    ]
    assert places == ["core/text.py"]
