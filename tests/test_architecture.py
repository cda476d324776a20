"""The stages import one way: core <- index <- ingest/retrieval, core <- generation, all of them
<- kbqa (the service) <- api and evaluation; ui talks to the API over HTTP and imports only
core's types. The one module above everything is the command line, which starts the API and the
UI, runs the evaluation, and runs the benchmarks (bench/), which measure the API and the stages
under it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "core": set(),
    "index": {"core"},
    "ingest": {"core", "index"},
    "retrieval": {"core", "index"},
    "generation": {"core"},
    "kbqa": {"core", "index", "ingest", "retrieval", "generation"},
    "api": {"core", "kbqa"},
    "evaluation": {"core", "kbqa"},
    "ui": {"core"},
    "bench": {"core", "index", "ingest", "retrieval", "generation", "kbqa", "api", "evaluation"},
}
ENTRY_POINT = {"kbqa/cli.py": {"api", "ui", "evaluation", "bench"}}


def _imports(package: str) -> dict[str, set[str]]:
    """Each module of a package -> the project packages it imports."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = (names & set(ALLOWED)) - {package}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_stage_imports_only_the_stages_below_it(package: str) -> None:
    allowed = ALLOWED[package]
    wrong = {
        module: sorted(names - allowed - ENTRY_POINT.get(module, set()))
        for module, names in _imports(package).items()
    }
    assert not {m: n for m, n in wrong.items() if n}


CODE_LOADERS = ("import pickle", "pickle.load", "torch.load(", "allow_pickle=True", "joblib.load")


def test_nothing_loads_a_code_executing_format() -> None:
    """The data directory holds SQLite, FAISS and JSON; nothing that runs code when read."""
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for package in ALLOWED
        for path in (ROOT / package).rglob("*.py")
        for needle in CODE_LOADERS
        if needle in path.read_text()
    ]
    assert offenders == []
