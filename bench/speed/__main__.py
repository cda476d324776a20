"""``python -m bench.speed [ingest|query|generation|all] ...``: the same as ``kbqa bench``."""

from __future__ import annotations

import typer

from bench.cli import speed

if __name__ == "__main__":
    typer.run(speed)
