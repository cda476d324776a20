"""GPU figures in one run (``benchmarks/gpu.sh``): ingest pages/s, embedding chunks/s, FAISS search
p50 on the GPU against the CPU, MaxSim rerank ms/query, and vLLM's output tokens/s against the
card's memory-bandwidth bound. Each part says the device it ran on; a part that needs what this
machine lacks (a GPU that FAISS or torch sees, vLLM) prints why it was skipped, so the command
runs on a CPU-only machine too, where the first figures are CPU figures.

The FAISS part searches synthetic unit vectors through kbqa's own ``FaissVectors``, once with
its GPU copy and once without, one query at a time as kbqa does, and checks that both return
the same ids.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import faiss
import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.cli import DatasetOption, PdfsOption
from benchmarks.speed.common import Dataset, percentiles, ratio
from core.settings import DenseSettings, Settings, get_settings
from index.gpu import GpuFaiss, gpu_faiss
from index.knowledge import local_index
from index.vectors import (
    TRAIN_POINTS_PER_LIST,
    FaissVectors,
    build_faiss_index,
    ivf_lists,
)
from retrieval.rerankers import MaxSimReranker

if TYPE_CHECKING:  # the service and the chat client load in seconds: `--help` need not wait
    from kbqa.app import KBQA

# Peak memory bandwidth (GB/s, vendors' data sheets) by a piece of the name torch reports; the
# first match wins, so the longer names come first. --bandwidth-gbs names any other card.
CARD_BANDWIDTH_GBS = (
    ("H200", 4800.0),
    ("H100 NVL", 3900.0),
    ("H100 PCIe", 2000.0),
    ("H100", 3350.0),  # SXM5, "NVIDIA H100 80GB HBM3"
    ("GH200", 4000.0),
    ("A100 80GB PCIe", 1935.0),
    ("A100-SXM4-80GB", 2039.0),
    ("A100", 1555.0),  # 40 GB
    ("L40S", 864.0),
    ("L40", 864.0),
    ("L4", 300.0),
    ("A10G", 600.0),
    ("A10", 600.0),
    ("RTX 6000 Ada", 960.0),
    ("RTX A6000", 768.0),
    ("RTX 4090", 1008.0),
    ("RTX 3090", 936.0),
    ("V100", 900.0),
    ("T4", 320.0),
)
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class GpuRun:
    """What a run measures, and how much: the command's options."""

    dataset: Path
    pdfs: int
    embed_chunks: int
    rerank_queries: int
    vectors: int
    queries: int
    k: int
    vllm: bool
    model_dir: Path | None
    bandwidth_gbs: float | None
    rounds: int
    gen_tokens: int


def card_bandwidth(name: str) -> float | None:
    """The card's peak memory bandwidth in GB/s, from its name, if the table has it."""
    return next((gbs for key, gbs in CARD_BANDWIDTH_GBS if key in name), None)


class Report:
    """Figures, and the parts skipped with the reason."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {"skipped": {}}

    def skip(self, part: str, reason: str) -> None:
        self.data["skipped"][part] = reason

    def run(self, part: str, measure: Callable[[], dict[str, Any]]) -> None:
        self.data[part] = measure()


def environment() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "faiss": faiss.__version__,
        "faiss_gpu_build": hasattr(faiss, "StandardGpuResources"),
        "faiss_gpus": faiss.get_num_gpus(),
    }


def measure_ingest(kb: KBQA, dataset: Dataset) -> dict[str, Any]:
    """Pages/s of ``KBQA.ingest`` over the dataset's PDFs (the model loaded beforehand)."""
    kb.embedder.embed(["warm up"])
    start = time.perf_counter()
    pages = chunks = 0
    for pdf in dataset.pdfs:
        doc = kb.ingest(pdf).document
        pages, chunks = pages + doc.pages, chunks + doc.chunks
    seconds = time.perf_counter() - start
    return {
        "device": getattr(kb.embedder, "device", "cpu"),
        "precision": getattr(kb.embedder, "precision", ""),
        "pdfs": len(dataset.pdfs),
        "pages": pages,
        "chunks": chunks,
        "pages_per_s": ratio(pages, seconds),
    }


def chunk_texts(kb: KBQA) -> list[str]:
    ids = local_index(kb.index).store.chunk_ids(kb.settings.collection)
    return [chunk.text for _, _, chunk in kb.index.chunks([int(i) for i in ids]).values()]


def measure_embedding(kb: KBQA, texts: list[str], n: int) -> dict[str, Any]:
    """Chunks/s of the embedder over ``n`` chunk texts (the ingested ones, repeated)."""
    batch = [texts[i % len(texts)] for i in range(n)]
    kb.embedder.embed(batch[: kb.embedder.batch_size])  # warm up
    start = time.perf_counter()
    kb.embedder.embed(batch)
    seconds = time.perf_counter() - start
    return {
        "device": getattr(kb.embedder, "device", "cpu"),
        "precision": getattr(kb.embedder, "precision", ""),
        "batch_size": kb.embedder.batch_size,
        "chunks": n,
        "chunks_per_s": ratio(n, seconds),
    }


def measure_faiss(
    gpu: GpuFaiss | None,
    dim: int,
    n: int,
    queries: int,
    k: int,
    family: str = "exact",
    dense: DenseSettings | None = None,
) -> dict[str, Any]:
    """Search p50 over ``n`` synthetic unit vectors on the CPU and, with ``gpu``, on the GPU;
    then again after deleting 1,000 of them (which the GPU copy filters out). ``family``:
    'exact', or 'ivf' as kbqa builds it past ``dense.exact_max`` (both sides the same index)."""
    dense = dense or DenseSettings()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    built = None
    if family == "ivf":
        sample = vectors[rng.choice(n, min(n, ivf_lists(n) * TRAIN_POINTS_PER_LIST), False)]
        built = build_faiss_index(dim, sample, ivf_lists(n), dense.ivf_codec)
    indexes = {"cpu": FaissVectors(dim, dense, built, n if built else 0)}
    if gpu is not None:
        copy = faiss.clone_index(built) if built is not None else None
        indexes["gpu"] = FaissVectors(dim, dense, copy, n if built else 0, gpu)
    for index in indexes.values():
        index.add(np.arange(n, dtype=np.int64), vectors)
    del vectors
    asked = rng.standard_normal((queries, dim), dtype=np.float32)
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    result: dict[str, Any] = {"family": family, "vectors": n, "dim": dim, "k": k}
    if built is not None:
        result |= {"nlist": ivf_lists(n), "nprobe": dense.nprobe, "codec": dense.ivf_codec}
    if "gpu" in indexes:
        start = time.perf_counter()
        indexes["gpu"].search(asked[0], k)  # the first search copies the index to the GPU
        result["copy_to_gpu_s"] = time.perf_counter() - start
    for phase in ("", "after_delete_"):
        if phase:
            gone = rng.choice(n, size=min(1000, n // 2), replace=False).tolist()
            for index in indexes.values():
                index.remove(gone)
        times: dict[str, list[float]] = {name: [] for name in indexes}
        same = 0
        for q in asked:
            found = {}
            for name, index in indexes.items():
                start = time.perf_counter()
                found[name] = [i for i, _ in index.search(q, k)]
                times[name].append(time.perf_counter() - start)
            same += found.get("gpu", found["cpu"]) == found["cpu"]
        p50 = {name: percentiles(t)["p50_ms"] for name, t in times.items()}
        result[f"{phase}p50_ms"] = p50
        if "gpu" in p50:
            result[f"{phase}cpu_over_gpu_p50"] = ratio(p50["cpu"], p50["gpu"])
            result[f"{phase}same_ids_share"] = same / len(asked)
    return result


def measure_rerank(kb: KBQA, texts: list[str], dataset: Dataset, n: int) -> dict[str, Any]:
    """ms per query of MaxSim over ``rerank_k`` passages, as the retriever calls it."""
    reranker = MaxSimReranker(kb.embedder)  # type: ignore[arg-type]
    per_query = kb.settings.retrieval.rerank_k
    rng = np.random.default_rng(1)
    questions = dataset.texts(n)
    reranker.score(questions[0], texts[:per_query])  # warm up
    seconds = []
    for question in questions:
        passages = [texts[i] for i in rng.integers(0, len(texts), per_query)]
        start = time.perf_counter()
        reranker.score(question, passages)
        seconds.append(time.perf_counter() - start)
    device = getattr(kb.embedder, "device", "cpu")
    return {
        "device": device,
        "path": "torch, one batched product" if device != "cpu" else "numpy, per passage",
        "passages_per_query": per_query,
        "queries": n,
        "ms_per_query_p50": percentiles(seconds)["p50_ms"],
    }


def gpu_name() -> str | None:
    """The first GPU's name, from torch or else nvidia-smi (vLLM has its own CUDA torch)."""
    import torch

    if torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    if shutil.which("nvidia-smi") is None:
        return None
    listing = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    names = listing.stdout.strip().splitlines() if listing.returncode == 0 else []
    return names[0].strip() if names else None


def weight_bytes(folder: Path, dtype: str) -> int:
    """Bytes of a model's weights in the dtype it is served in (read from the safetensors
    headers, no tensor loaded): what a decoder reads from memory for every token."""
    from safetensors import safe_open

    if dtype == "auto":
        config = json.loads((folder / "config.json").read_text())
        dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ValueError(f"no *.safetensors in {folder}")
    params = 0
    for file in files:
        with safe_open(str(file), framework="pt") as weights:
            for name in weights.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                params += int(np.prod(weights.get_slice(name).get_shape()))
    return params * DTYPE_BYTES[dtype]


def vllm_settings(settings: Settings) -> tuple[Settings, Path | None]:
    """Settings that serve with vLLM (kbqa starts it unless llm.base_url names one), and the
    folder of the model it serves (None when it is not known here)."""
    llm = settings.llm
    folder = llm.vllm.model
    if folder is None and llm.base_url is None:
        from generation.assets import PACKAGED_MODELS
        from generation.convert import hf_folder

        folder = hf_folder(PACKAGED_MODELS[llm.local_model], settings.models_dir)
    if llm.base_url is None:
        vllm = llm.vllm.model_copy(update={"model": folder})
        llm = llm.model_copy(update={"server": "vllm", "vllm": vllm})
    return settings.model_copy(update={"llm": llm}), folder


def measure_vllm(
    settings: Settings, folder: Path, bandwidth_gbs: float, rounds: int, max_tokens: int
) -> dict[str, Any]:
    """Output tokens/s of the vLLM server against the card's bound: its bandwidth over the
    bytes of weights read per token."""
    from benchmarks.speed.generation import run_generation
    from kbqa.app import KBQA

    per_token = weight_bytes(folder, settings.llm.vllm.dtype)
    with KBQA(settings) as kb:
        generation = run_generation(kb, rounds, max_tokens)
    bound = bandwidth_gbs * 1e9 / per_token
    return {
        "model": str(folder),
        "weight_bytes_per_token": per_token,
        "card_GB_per_s": bandwidth_gbs,
        "output_tokens_per_s": generation["output_tokens_per_s"],
        "prompt_tokens_per_s": generation["prompt_tokens_per_s"],
        "bound_tokens_per_s": bound,
        "output_over_bound": ratio(generation["output_tokens_per_s"], bound),
    }


def run(options: GpuRun, settings: Settings) -> dict[str, Any]:
    """Every part's figures, or why it was skipped."""
    from benchmarks.speed.run import bench_settings
    from kbqa.app import KBQA

    report = Report()
    report.data["environment"] = environment()
    dataset = Dataset.load(options.dataset, options.pdfs)
    scratch = Path(tempfile.mkdtemp(prefix="kbqa-bench-gpu-"))
    try:
        with KBQA(bench_settings(scratch, chat=False)) as kb:
            report.run("ingest", lambda: measure_ingest(kb, dataset))
            texts = chunk_texts(kb)
            report.run("embedding", lambda: measure_embedding(kb, texts, options.embed_chunks))
            report.run("rerank", lambda: measure_rerank(kb, texts, dataset, options.rerank_queries))
            dim = kb.embedder.dim
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    gpu = gpu_faiss(settings.gpu.model_copy(update={"faiss": True}))
    if gpu is None:
        report.skip(
            "faiss on the GPU",
            "FAISS sees no GPU (faiss-cpu, or no CUDA device): `make install` on a machine "
            "where nvidia-smi lists one installs faiss-gpu",
        )
    for family in ("exact", "ivf"):  # below dense.exact_max, and past it
        measured = measure_faiss(
            gpu, dim, options.vectors, options.queries, options.k, family, settings.dense
        )
        report.data[f"faiss_{family}"] = measured
    vllm_part(report, options, settings)
    return report.data


def vllm_part(report: Report, options: GpuRun, settings: Settings) -> None:
    """vLLM against the card's bandwidth bound, or why not."""
    from generation.server import has_cuda

    name = gpu_name()
    bandwidth = options.bandwidth_gbs or (card_bandwidth(name) if name else None)
    served, folder = vllm_settings(settings)
    folder = options.model_dir or folder
    reasons = [
        (not options.vllm, "--no-vllm"),
        (
            not has_cuda(),
            "no NVIDIA GPU (nvidia-smi lists none); `kbqa bench generation` "
            "measures the CPU server against memory bandwidth",
        ),
        (bandwidth is None, f"{name!r} is not in the bandwidth table: pass --bandwidth-gbs"),
        (
            served.llm.base_url is None and not served.llm.vllm.python.exists(),
            f"no vLLM at {served.llm.vllm.python}: `make vllm`",
        ),
        (
            folder is None or not (folder / "config.json").is_file(),
            f"no model folder at {folder} (`make vllm` converts the packaged model; or "
            "KBQA_LLM__VLLM__MODEL, or --model-dir for a server at KBQA_LLM__BASE_URL)",
        ),
    ]
    reason = next((why for failed, why in reasons if failed), None)
    if reason is not None:
        report.skip("vllm", reason)
        return
    assert folder is not None
    assert bandwidth is not None
    scratch = Path(tempfile.mkdtemp(prefix="kbqa-bench-vllm-"))  # its log lands there
    try:
        served = served.model_copy(update={"data_dir": scratch})
        report.run(
            "vllm",
            lambda: measure_vllm(served, folder, bandwidth, options.rounds, options.gen_tokens),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def print_report(data: dict[str, Any], console: Console) -> None:
    env = data["environment"]
    console.print(
        f"torch {env['torch']} (CUDA {env['torch_cuda']}), GPU: {env['gpu']}; faiss "
        f"{env['faiss']}, GPU build: {env['faiss_gpu_build']}, GPUs it sees: {env['faiss_gpus']}"
    )
    table = Table("measure", "figure", "where", title="kbqa bench gpu")
    if ingest := data.get("ingest"):
        where = f"{ingest['device']}, {ingest['precision']}"
        table.add_row(
            f"ingest pages/s ({ingest['pages']} pages)", f"{ingest['pages_per_s']:.1f}", where
        )
    if emb := data.get("embedding"):
        where = f"{emb['device']}, {emb['precision']}, batch {emb['batch_size']}"
        table.add_row(f"embedding chunks/s ({emb['chunks']})", f"{emb['chunks_per_s']:.0f}", where)
    for faiss_ in (data.get("faiss_exact"), data.get("faiss_ivf")):
        if not faiss_:
            continue
        size = f"{faiss_['family']}, {faiss_['vectors']:,} x {faiss_['dim']}, k={faiss_['k']}"
        for phase, label in (("", ""), ("after_delete_", ", 1,000 deleted")):
            for device, p50 in faiss_[f"{phase}p50_ms"].items():
                table.add_row(f"FAISS search p50 ms{label}", f"{p50:.3f}", f"{device}, {size}")
            if f"{phase}cpu_over_gpu_p50" in faiss_:
                x, same = faiss_[f"{phase}cpu_over_gpu_p50"], faiss_[f"{phase}same_ids_share"]
                table.add_row("  CPU p50 / GPU p50", f"{x:.1f}x", f"same ids: {same:.0%}")
        if "copy_to_gpu_s" in faiss_:
            table.add_row("  copy to the GPU, s", f"{faiss_['copy_to_gpu_s']:.2f}", "first search")
    if rerank := data.get("rerank"):
        where = f"{rerank['device']}, {rerank['path']}"
        table.add_row(
            f"MaxSim rerank ms/query ({rerank['passages_per_query']} passages)",
            f"{rerank['ms_per_query_p50']:.1f}",
            where,
        )
    if vllm := data.get("vllm"):
        table.add_row("vLLM output tokens/s", f"{vllm['output_tokens_per_s']:.1f}", vllm["model"])
        table.add_row(
            "  bandwidth bound tokens/s",
            f"{vllm['bound_tokens_per_s']:.1f}",
            f"{vllm['card_GB_per_s']:.0f} GB/s / {vllm['weight_bytes_per_token'] / 1e9:.2f} GB",
        )
        table.add_row("  output / bound", f"{vllm['output_over_bound']:.2f}", "")
    console.print(table)
    for part, reason in data["skipped"].items():
        console.print(f"skipped {part}: {reason}")


def gpu(
    dataset: DatasetOption = Path("samples"),
    pdfs: PdfsOption = 4,
    embed_chunks: Annotated[int, typer.Option(min=1, help="Chunks to embed.")] = 20000,
    rerank_queries: Annotated[int, typer.Option(min=1, help="Queries to rerank.")] = 50,
    vectors: Annotated[int, typer.Option(min=1, help="FAISS index size.")] = 1_000_000,
    queries: Annotated[int, typer.Option(min=1, help="FAISS searches per side.")] = 200,
    k: Annotated[int, typer.Option(min=1, help="Neighbours per FAISS search.")] = 50,
    vllm: Annotated[bool, typer.Option(help="Measure vLLM (where it can run).")] = True,
    model_dir: Annotated[
        Path | None, typer.Option(help="Weights of the model vLLM serves.")
    ] = None,
    bandwidth_gbs: Annotated[
        float | None, typer.Option(min=1, help="The card's memory GB/s (default: its name's).")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="vLLM generation rounds.")] = 3,
    gen_tokens: Annotated[int, typer.Option(min=1, help="Tokens per round.")] = 256,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report here too.")
    ] = None,
) -> None:
    """The GPU figures, or what was skipped and why (also benchmarks/gpu.sh).

    Ingest, embedding, FAISS on the GPU against the CPU, MaxSim rerank, and vLLM against the
    card's memory bandwidth."""
    options = GpuRun(
        dataset=dataset,
        pdfs=pdfs,
        embed_chunks=embed_chunks,
        rerank_queries=rerank_queries,
        vectors=vectors,
        queries=queries,
        k=k,
        vllm=vllm,
        model_dir=model_dir,
        bandwidth_gbs=bandwidth_gbs,
        rounds=rounds,
        gen_tokens=gen_tokens,
    )
    data = run(options, get_settings())
    print_report(data, Console())
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(data, indent=2))
