"""``kbqa bench``: the speed benchmarks of a source checkout.

The benchmarks and the dataset builders live in ``benchmarks/`` beside the packages, outside
the installed product (the wheel holds none of them). This command runs them,
``python -m benchmarks speed ...``, from the checkout kbqa is installed from (``make
install`` installs it editable), and says how to get one where there is none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from cli.answers import console
from core.settings import PROJECT_ROOT

NO_CHECKOUT = (
    "kbqa bench runs the benchmarks of a source checkout (benchmarks/), which the installed "
    "package does not hold. Clone kbqa's repository, run `make install` in it, then "
    "`kbqa bench` or `python -m benchmarks --help` there (docs/benchmarks.md)."
)


def benchmarks_root() -> Path | None:
    """The checkout that holds ``benchmarks/``, or None for an installed package alone."""
    return PROJECT_ROOT if (PROJECT_ROOT / "benchmarks" / "__main__.py").is_file() else None


def bench(ctx: typer.Context) -> None:
    """Speed benchmarks (ingest, query, generation, all; or scale; or llm, soak), from a source
    checkout.

    Runs its `python -m benchmarks speed` with every argument given: `kbqa bench --help` shows
    that command's options."""
    root = benchmarks_root()
    if root is None:
        console.print(f"[red]error:[/red] {NO_CHECKOUT}")
        raise typer.Exit(code=1)
    paths = [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    # `kbqa bench llm ...`, `kbqa bench soak ...`: those commands, with all their options.
    named = bool(ctx.args) and ctx.args[0] in COMMANDS
    command = [sys.executable, "-m", "benchmarks", *([] if named else ["speed"]), *ctx.args]
    raise typer.Exit(code=subprocess.run(command, env=env, check=False).returncode)


COMMANDS = {"llm", "soak"}  # benchmarks `kbqa bench` runs by name; the rest go to speed
# Every argument, --help included, goes to the benchmark, which parses and checks them.
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
