"""benchmarks/gpu.sh's parts on a CPU machine: the whole run on the fake embedder with the stand-in
for FAISS's GPU functions, the bandwidth table, the weights' bytes, and why vLLM is skipped."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from typer.testing import CliRunner

from benchmarks.__main__ import app
from benchmarks.speed import gpu as bench_gpu
from core.settings import get_settings
from tests.utils.faiss_gpu import install_fake_gpu
from tests.utils.pdfs import make_text_pdf


@pytest.fixture
def _fake_embedder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KBQA_EMBEDDING__BACKEND", "fake")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("_fake_embedder")
def test_a_run_measures_each_part_and_says_what_it_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_gpu(monkeypatch)
    folder = tmp_path / "pdfs"
    folder.mkdir()
    make_text_pdf(folder / "a.pdf", ["The harbour was built in 1850.", "Ada Brook kept it."])
    out = tmp_path / "gpu.json"
    small = "--embed-chunks 30 --rerank-queries 3 --vectors 400 --queries 5 --k 10 --no-vllm"
    result = CliRunner().invoke(
        app, ["gpu", "--dataset", str(folder), *small.split(), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["ingest"]["pages"] == 2
    assert report["ingest"]["pages_per_s"] > 0
    assert report["embedding"]["chunks"] == 30
    assert report["embedding"]["chunks_per_s"] > 0
    assert report["rerank"]["ms_per_query_p50"] > 0
    for family in ("exact", "ivf"):
        faiss_part = report[f"faiss_{family}"]
        assert set(faiss_part["p50_ms"]) == {"cpu", "gpu"}
        assert faiss_part["same_ids_share"] == faiss_part["after_delete_same_ids_share"] == 1.0
    assert report["skipped"] == {"vllm": "--no-vllm"}
    printed = result.stdout
    assert "CPU p50 / GPU p50" in printed
    assert "skipped vllm: --no-vllm" in printed


def test_without_a_gpu_faiss_is_measured_on_the_cpu_alone() -> None:
    result = bench_gpu.measure_faiss(None, dim=8, n=100, queries=3, k=5)
    assert set(result["p50_ms"]) == {"cpu"}
    assert "cpu_over_gpu_p50" not in result


def test_card_bandwidth_comes_from_the_name_torch_reports() -> None:
    assert bench_gpu.card_bandwidth("NVIDIA H100 80GB HBM3") == 3350.0
    assert bench_gpu.card_bandwidth("NVIDIA H100 PCIe") == 2000.0
    assert bench_gpu.card_bandwidth("NVIDIA H200") == 4800.0
    assert bench_gpu.card_bandwidth("NVIDIA A100-SXM4-80GB") == 2039.0
    assert bench_gpu.card_bandwidth("Tesla T4") == 320.0
    assert bench_gpu.card_bandwidth("Some Future Card") is None


def test_weight_bytes_count_parameters_in_the_served_dtype(tmp_path: Path) -> None:
    save_file({"a": np.zeros((10, 20), np.float32)}, str(tmp_path / "model-1.safetensors"))
    save_file({"b": np.zeros((5,), np.float32)}, str(tmp_path / "model-2.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16"}))
    assert bench_gpu.weight_bytes(tmp_path, "auto") == 205 * 2
    assert bench_gpu.weight_bytes(tmp_path, "float32") == 205 * 4


# vLLM on, with nothing named for it (the other parts' sizes are not used here).
VLLM_ON = bench_gpu.GpuRun(
    dataset=Path("samples"), pdfs=1, embed_chunks=1, rerank_queries=1, vectors=1, queries=1, k=1,
    vllm=True, model_dir=None, bandwidth_gbs=None, rounds=1, gen_tokens=8,
)  # fmt: skip


def _options(**changes: object) -> bench_gpu.GpuRun:
    return dataclasses.replace(VLLM_ON, **changes)


def test_vllm_is_skipped_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings().model_copy(update={"data_dir": tmp_path})

    def reason(**changes: object) -> str:
        report = bench_gpu.Report()
        bench_gpu.vllm_part(report, _options(**changes), settings)
        return str(report.data["skipped"]["vllm"])

    monkeypatch.setattr("generation.server.has_cuda", lambda: False)
    assert "no NVIDIA GPU" in reason()
    monkeypatch.setattr("generation.server.has_cuda", lambda: True)
    monkeypatch.setattr(bench_gpu, "gpu_name", lambda: "Some Future Card")
    assert "--bandwidth-gbs" in reason()
    vllm = settings.llm.vllm.model_copy(update={"python": tmp_path / "python"})
    llm = settings.llm.model_copy(update={"vllm": vllm})
    settings = settings.model_copy(update={"llm": llm})
    assert "`make vllm`" in reason(bandwidth_gbs=1000.0)
    (tmp_path / "python").touch()
    assert "no model folder" in reason(bandwidth_gbs=1000.0)
    report = bench_gpu.Report()
    bench_gpu.vllm_part(report, _options(vllm=False), settings)
    assert report.data == {"skipped": {"vllm": "--no-vllm"}}
