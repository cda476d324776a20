"""A question answered from an ingested PDF through a real vLLM server that kbqa starts.

Needs .venv-vllm and the packaged model converted for vLLM, which `make vllm` builds (`make test`
runs it first). Without them these tests fail and say so: a skip would let CI pass without ever
starting vLLM. Minutes: vLLM takes about two to start on two CPU cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings
from generation.assets import PACKAGED_MODELS, ensure_model
from generation.convert import check_folder, gguf_chat_template, hf_folder
from tests.utils.pdfs import make_text_pdf

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.vllm]

# Read at import, before the tests' own data directory is set: where `make vllm` put things.
DEFAULTS = Settings()
PACKAGED = PACKAGED_MODELS[DEFAULTS.llm.local_model]
HF_MODEL = hf_folder(PACKAGED, DEFAULTS.models_dir)

PAGES = [
    "Annual report of the Brookfield Water Board. "
    "The board manages two reservoirs and a treatment works.",
    "The Elmstead reservoir was completed in 1887. Its dam is 41 metres high and it holds "
    "12 million cubic metres of water. The engineer in charge of the works was Margaret Quill.",
    "Water quality is tested every day at the treatment works. Results are published each month.",
]


@pytest.fixture(scope="module")
def vllm_model() -> Path:
    missing = [
        f"{path} is missing"
        for path in (DEFAULTS.llm.vllm.python, HF_MODEL / "config.json")
        if not path.exists()
    ]
    if missing:
        pytest.fail(f"{'; '.join(missing)}: run `make vllm` first (it builds both)")
    return HF_MODEL


def kbqa(*args: str, data_dir: Path, model: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KBQA_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "KBQA_LLM__SERVER": "vllm",
        "KBQA_LLM__VLLM__MODEL": str(model),
        "KBQA_LLM__MODEL": PACKAGED.name,
    }
    cmd = [sys.executable, "-c", "from cli.main import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)


def test_the_converted_model_keeps_its_chat_template(vllm_model: Path) -> None:
    check_folder(vllm_model, gguf_chat_template(ensure_model(PACKAGED, DEFAULTS.models_dir)))


def test_ask_through_vllm_gives_a_cited_answer(vllm_model: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pdf = make_text_pdf(tmp_path / "water-board.pdf", PAGES, font="dejavu")
    ingested = kbqa("ingest", str(pdf), "--json", data_dir=data_dir, model=vllm_model)
    assert ingested.returncode == 0, ingested.stderr

    # few-shot: through vLLM this 0.5B model answers the zero-shot prompt with a bare "[1]"
    # (its dequantized weights decode a little differently from llama.cpp's 4-bit kernels);
    # shown an example answer, it writes "1887 [1]."
    result = kbqa(
        "ask",
        "In which year was the Elmstead reservoir completed?",
        "--strategy",
        "few-shot",
        "--json",
        data_dir=data_dir,
        model=vllm_model,
    )
    log = data_dir / "logs" / "vllm-server.log"
    server_log = log.read_text()[-3000:] if log.exists() else "(no vLLM log)"
    assert result.returncode == 0, f"{result.stderr}\n--- vLLM log ---\n{server_log}"
    answer = json.loads(result.stdout)
    assert "1887" in answer["answer"], answer
    assert answer["grounded"], answer
    assert answer["model"] == PACKAGED.name
    cited = {(c["filename"], c["page"]) for c in answer["citations"]}
    assert ("water-board.pdf", 2) in cited, answer
    assert "vllm" in server_log.lower()  # vLLM answered, not the llama.cpp server
