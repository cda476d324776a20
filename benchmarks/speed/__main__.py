"""``python -m benchmarks.speed [ingest|query|generation|all] ...``: the same as ``kbqa bench``."""

from __future__ import annotations

import typer

from benchmarks.cli import speed

if __name__ == "__main__":
    typer.run(speed)
