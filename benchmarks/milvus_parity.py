"""Retrieval quality of the Milvus backend against the local one, on the same index.

    python -m benchmarks milvus-parity build/eval/squad --budget 4000 --sample 600
    python -m benchmarks milvus-parity build/eval/cmrc --budget 2000
    python -m benchmarks milvus-parity build/eval/squad --budget 4000 --sample 600 \
        --retrieval hybrid,dense,bm25     # without the rerank stage: minutes, not an hour

Runs ``kbqa eval --no-answers`` on the dataset folder with the local index
(``<folder>/index``, built by the first run), moves that index into a `milvus-lite server` it
starts (``kbqa index export`` / ``import``: the same chunks and vectors, nothing embedded again),
runs the same evaluation with ``KBQA_INDEX__BACKEND=milvus``, and prints both with the
differences (README, "Beyond one machine").
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from core.net import free_port

KBQA = [sys.executable, "-c", "from cli.main import main; main()"]
METRICS = {"budget_recall_at_k": "recall@5", "budget_mrr_at_10": "MRR@10"}


def _kbqa(args: list[str], env: dict[str, str]) -> None:
    print("$", " ".join(["kbqa", *args]), flush=True)
    subprocess.run([*KBQA, *args], env=env, check=True)


def _milvus(data_dir: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir)]
    server = subprocess.Popen([*cmd, "--host", "127.0.0.1", "--port", str(port)])
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("milvus-lite server did not start")


def milvus_parity(
    dataset: Annotated[
        Path, typer.Argument(help="A folder from `python -m benchmarks make-dataset`.")
    ],
    budget: Annotated[int, typer.Option(min=1, help="Characters of context scored.")] = 4000,
    sample: Annotated[int | None, typer.Option(min=1, help="Questions (default: all).")] = None,
    retrieval: Annotated[
        str | None, typer.Option(help="kbqa eval's --retrieval (default: all four).")
    ] = None,
) -> None:
    """Retrieval quality of the Milvus backend against the local one, on the same index."""
    folder = dataset
    evaluate = ["eval", str(folder), "--no-answers", "--budget", str(budget)]
    if sample:
        evaluate += ["--sample", str(sample)]
    if retrieval:
        evaluate += ["--retrieval", retrieval]
    base = {**os.environ, "KBQA_DATA_DIR": str(folder / "index")}
    reports = {name: folder / f"report-{name}" for name in ("local", "milvus")}
    _kbqa([*evaluate, "--out", str(reports["local"])], base)
    work = Path(tempfile.mkdtemp(prefix="kbqa-parity-"))
    try:
        export = work / "index.jsonl.gz"
        _kbqa(["index", "export", str(export)], base)
        port = free_port()
        server = _milvus(work / "milvus", port)
        try:
            milvus = {
                **base,
                "KBQA_DATA_DIR": str(work / "node"),
                "KBQA_INDEX__BACKEND": "milvus",
                "KBQA_INDEX__MILVUS__URI": f"http://127.0.0.1:{port}",
            }
            _kbqa(["index", "import", str(export)], milvus)
            _kbqa([*evaluate, "--out", str(reports["milvus"])], milvus)
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _table(reports)


def _table(reports: dict[str, Path]) -> None:
    scores = {
        k: json.loads((p / "report.json").read_text())["retrieval"] for k, p in reports.items()
    }
    print("| configuration | local recall@5 / MRR@10 | Milvus recall@5 / MRR@10 | difference |")
    print("|---|---|---|---|")
    for setup, local in scores["local"].items():
        remote = scores["milvus"][setup]
        pairs = [(local[m], remote[m]) for m in METRICS]
        cells = [" / ".join(f"{v:.3f}" for v in side) for side in zip(*pairs, strict=True)]
        diff = " / ".join(f"{b - a:+.3f}" for a, b in pairs)
        print(f"| {setup} | {cells[0]} | {cells[1]} | {diff} |")
