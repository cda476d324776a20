"""``python -m bench.speed [ingest|query|generation|all] ...``: the same as ``kbqa bench``."""

from __future__ import annotations

import sys

from kbqa.cli import app

if __name__ == "__main__":
    app(["bench", *sys.argv[1:]], prog_name="python -m bench.speed")
