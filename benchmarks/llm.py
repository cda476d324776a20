"""``python -m benchmarks llm`` (``kbqa bench llm``): how fast the chat model reads a prompt and
writes an answer, for each packaged model and each build of llama.cpp's CPU backend, side by side in
one run.

Each (model, build) pair runs in a process of its own, since a process loads one CPU backend
(:mod:`generation.cpu_backend`); the pairs take turns, round after round, and the best round of
each is reported, so that a noisy machine slows every pair alike. Figures are tokens a second
on the prompt (what most of an answer's time is, at kbqa's 1,000-2,000-token prompts) and on
generation, and each as a ratio to the first build listed. ``--openvino`` adds models run by
OpenVINO GenAI, ``--server`` a running vLLM server's model (docs/speed.md compares them).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from benchmarks.console import console, out
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
OPENVINO = "openvino"  # the build column of a model that OpenVINO GenAI runs
SERVER = "server"  # the build column of a running OpenAI-compatible server's model
WARM_UP = 32  # tokens read (or generated from) before the clock starts
# What the prompt says: English dev-set passages, the kind of text kbqa's prompts carry.
PROMPT_TEXT = ROOT / "benchmarks" / "data" / "squad-v1.1-dev-half-a.json"


def _prompt_text() -> str:
    """What every measured prompt is cut from: the dev set's passages, one after another."""
    data = json.loads(PROMPT_TEXT.read_text(encoding="utf-8"))
    return " ".join(p["context"] for a in data["data"] for p in a["paragraphs"])


def measure(model_path: Path, variant: str | None, prompt_tokens: int, gen_tokens: int) -> dict:
    """One pair, in this process: prompt and generation tokens a second, on the threads kbqa's
    server uses."""
    from llama_cpp import Llama

    from generation.cpu_backend import load_cpu_backend

    features = load_cpu_backend(variant)
    threads = Settings().llm.llama_cpp.threads or os.cpu_count() or 1  # as kbqa's server runs
    llm = Llama(
        model_path=str(model_path),
        n_ctx=prompt_tokens + gen_tokens + 16,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=False,
        verbose=False,
    )
    tokens = llm.tokenize(_prompt_text().encode())[:prompt_tokens]
    llm.eval(tokens[:WARM_UP])  # first use is not reading: as for OpenVINO below
    llm.reset()
    start = time.perf_counter()
    llm.eval(tokens[:-1])
    read_s = time.perf_counter() - start
    start, written = time.perf_counter(), 0
    for _ in llm.generate(tokens[-1:], temp=0.0, reset=False):
        written += 1
        if written == gen_tokens:
            break
    write_s = time.perf_counter() - start
    return {
        "prompt_tps": (len(tokens) - 1) / read_s,
        "gen_tps": written / write_s,
        "features": features,
    }


def measure_openvino(model_path: Path, prompt_tokens: int, gen_tokens: int) -> dict:
    """One OpenVINO GenAI model, in this process: the same prompt text, read and answered on
    the same threads. ``model_path`` is a folder that ``optimum-cli export openvino`` wrote, or
    a GGUF file, which OpenVINO GenAI reads itself. Rates come from its own timings: the prompt
    from the time to the first token, generation from the time per token after it."""
    import openvino_genai

    threads = Settings().llm.llama_cpp.threads or os.cpu_count() or 1
    pipe = openvino_genai.LLMPipeline(
        str(model_path), "CPU", INFERENCE_NUM_THREADS=threads, PERFORMANCE_HINT="LATENCY"
    )
    tokenizer = pipe.get_tokenizer()
    ids = [int(i) for i in tokenizer.encode(_prompt_text()).input_ids.data[0]]
    config = openvino_genai.GenerationConfig()
    config.do_sample = False
    config.max_new_tokens = config.min_new_tokens = 4
    pipe.generate(tokenizer.decode(ids[-WARM_UP:]), config)  # compiles its kernels
    config.max_new_tokens = config.min_new_tokens = gen_tokens
    metrics = pipe.generate([tokenizer.decode(ids[:prompt_tokens])], config).perf_metrics
    return {
        "prompt_tps": metrics.get_num_input_tokens() / (metrics.get_ttft().mean / 1000),
        "gen_tps": 1000 / metrics.get_tpot().mean,
        "features": ["OpenVINO"],
    }


def measure_server(base_url: str, prompt_tokens: int, gen_tokens: int) -> dict:
    """A running OpenAI-compatible server (vLLM, which kbqa starts with
    ``KBQA_LLM__SERVER=vllm``): the same prompt text, from a random place in it, sent as
    token ids through its ``/tokenize``, streamed back. The prompt rate is its tokens over the
    time to the first token; generation, the tokens after the first over the time after it."""
    import httpx
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed")
    model = client.models.list().data[0].id
    root = base_url.removesuffix("/").removesuffix("/v1")
    asked = {"model": model, "prompt": _prompt_text()}
    tokenized = httpx.post(f"{root}/tokenize", json=asked, timeout=120)
    ids = tokenized.raise_for_status().json()["tokens"]

    def stream(prompt: list[int], n: int) -> list[float]:
        """When each token came, from the request's start."""
        start, times = time.perf_counter(), []
        for _ in client.completions.create(
            model=model,
            prompt=prompt,
            max_tokens=n,
            temperature=0.0,
            stream=True,
            extra_body={"min_tokens": n, "ignore_eos": True},
        ):
            times.append(time.perf_counter() - start)
        return times

    # A server keeps what it has read (vLLM's prefix cache): each call reads text it has not.
    start = random.randrange(max(len(ids) - prompt_tokens - WARM_UP, 1))
    stream(ids[start + prompt_tokens : start + prompt_tokens + WARM_UP], 4)
    times = stream(ids[start : start + prompt_tokens], gen_tokens)
    return {
        "prompt_tps": prompt_tokens / times[0],
        "gen_tps": (len(times) - 1) / (times[-1] - times[0]),
        "features": [model],
    }


def llm(
    models: Annotated[
        str, typer.Option(help="Packaged models, comma-separated (installed ones only).")
    ] = "qwen2.5-coder-0.5b,qwen2.5-coder-1.5b",
    variants: Annotated[
        str,
        typer.Option(
            help="Builds of the CPU backend, comma-separated, the first the baseline "
            "(generation/cpu_backend.py); 'auto' is the one kbqa picks."
        ),
    ] = "haswell,icelake,sapphirerapids,auto",
    gguf: Annotated[
        list[Path] | None, typer.Option(help="More GGUF files to measure beside the models.")
    ] = None,
    openvino: Annotated[
        list[Path] | None,
        typer.Option(
            help="Models to measure in OpenVINO GenAI beside llama.cpp: a folder exported by "
            "optimum-cli, or a GGUF file. Needs openvino-genai, which kbqa does not install."
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            help="Also measure the model of a running OpenAI-compatible server with /tokenize "
            "(vLLM), by its base URL (http://127.0.0.1:8001/v1)."
        ),
    ] = None,
    requantize: Annotated[
        str,
        typer.Option(
            help="Also measure each model re-quantized to these types (q4_0, q8_0), "
            "comma-separated; the copies are kept beside the models."
        ),
    ] = "",
    prompt_tokens: Annotated[int, typer.Option(min=16, help="Prompt length.")] = 1500,
    gen_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated.")] = 32,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds; the best of each pair is kept.")] = 2,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the figures here.")
    ] = None,
) -> None:
    """Prompt-reading and generation speed of each model on each CPU-backend build."""
    files = _model_files([m for m in models.split(",") if m])
    files += [_requantized(f, kind) for kind in requantize.split(",") if kind for f in list(files)]
    files += list(gguf or [])
    builds = [v for v in variants.split(",") if v]
    compiled = list(openvino or [])
    if not files and not compiled and not server:
        console.print("[red]error:[/red] no model to measure (--models, --gguf)")
        raise typer.Exit(code=2)
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(rounds):
        for path in files:
            for build in builds:
                _keep_best(best, (path.name, build), _run(path, build, prompt_tokens, gen_tokens))
        if server:
            try:
                got = measure_server(server, prompt_tokens, gen_tokens)
            except Exception as exc:  # noqa: BLE001 - the row says what failed
                got = {"error": str(exc)}
            _keep_best(best, (server, SERVER), got)
        for path in compiled:
            got = _run(path, OPENVINO, prompt_tokens, gen_tokens)
            _keep_best(best, (path.name, OPENVINO), got)
    out.print(_table(best, [p.name for p in files], builds, prompt_tokens))
    if compiled:
        out.print(_table(best, [p.name for p in compiled], [OPENVINO], prompt_tokens))
    if server:
        out.print(_table(best, [server], [SERVER], prompt_tokens))
    if json_path:
        rows = [{"model": m, "build": b, **v} for (m, b), v in best.items()]
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(rows, indent=2))


def _keep_best(
    best: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str], got: dict[str, Any]
) -> None:
    """Keep a round's result where it read the prompt faster than the pair's rounds before."""
    if key not in best or got.get("prompt_tps", 0) > best[key].get("prompt_tps", 0):
        best[key] = got


def _model_files(names: list[str]) -> list[Path]:
    from generation.assets import PACKAGED_MODELS, ensure_model

    files = []
    for name in names:
        model = PACKAGED_MODELS.get(name)
        if model is None:
            known = ", ".join(PACKAGED_MODELS)
            raise typer.BadParameter(f"must be among {known}, got {name!r}", param_hint="--models")
        try:
            files.append(ensure_model(model, Settings().models_dir))
        except Exception as exc:  # not installed: say so and measure the others
            console.print(f"[yellow]skipped {name}:[/yellow] {exc}")
    return files


def _requantized(path: Path, kind: str) -> Path:
    """``path`` re-quantized to ``kind``, as kbqa's server does (made once, beside it)."""
    from generation.assets import QUANT_TYPES, requantize

    if kind not in QUANT_TYPES:
        known = ", ".join(QUANT_TYPES)
        raise typer.BadParameter(f"must be among {known}, got {kind!r}", param_hint="--requantize")
    return requantize(path, kind)  # type: ignore[arg-type]  # checked against QUANT_TYPES


def _run(path: Path, build: str, prompt_tokens: int, gen_tokens: int) -> dict[str, Any]:
    """One pair in a child process; its error, if any, as the result."""
    variant = None if build == "auto" else build
    call = (
        f"measure_openvino(Path({str(path)!r}), {prompt_tokens}, {gen_tokens})"
        if build == OPENVINO
        else f"measure(Path({str(path)!r}), {variant!r}, {prompt_tokens}, {gen_tokens})"
    )
    code = (
        "import json, sys; from pathlib import Path; "
        f"from benchmarks.llm import measure, measure_openvino; print(json.dumps({call}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=1800
    )
    if done.returncode != 0:
        lines = (done.stderr.strip() or f"exit {done.returncode}").splitlines()
        return {"error": lines[-1] if lines else f"exit {done.returncode}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _table(
    best: dict[tuple[str, str], dict[str, Any]], models: list[str], builds: list[str], n: int
) -> Table:
    engine = {OPENVINO: "OpenVINO GenAI", SERVER: "The server"}.get(builds[0], "llama.cpp")
    table = Table(title=f"{engine} on this CPU: {n}-token prompt, tokens/s (x the first build)")
    for header in ("model", "build", "uses", "prompt tok/s", "generation tok/s"):
        table.add_column(header)
    for model in models:
        base = best.get((model, builds[0]), {})
        for build in builds:
            got = best.get((model, build), {})
            if "error" in got:
                table.add_row(model, build, "", f"failed: {got['error']}", "")
                continue
            table.add_row(
                model,
                build,
                " ".join(got.get("features", [])[:1] if build == SERVER else _isa(got)),
                _rate(got, base, "prompt_tps"),
                _rate(got, base, "gen_tps"),
            )
    return table


def _isa(got: dict[str, Any]) -> list[str]:
    return [f for f in got.get("features", []) if f.startswith(("AVX", "AMX"))]


def _rate(got: dict[str, Any], base: dict[str, Any], key: str) -> str:
    if key not in got:
        return "-"
    ratio = f" ({got[key] / base[key]:.2f}x)" if base.get(key) else ""
    return f"{got[key]:.0f}{ratio}"
