"""Load test for the kbqa HTTP API: concurrent clients sending a weighted mix of ask, search and
upload requests to a server on this machine, then latency percentiles and throughput per route.

    python -m benchmarks load --spawn --fake --requests 100 --clients 8
    python -m benchmarks load --spawn --requests 50 --clients 4 --mix ask=1,search=1
    python -m benchmarks load --url http://127.0.0.1:8000 --key "$KBQA_API_KEY" --duration 30 --json
    python -m benchmarks load --questions build/eval/squad/questions.jsonl --mix search=1
    python -m benchmarks load --spawn --clients 1 --mix ask=1 --requests 60 --duration 3600 \
        --questions evaluation/data/squad-en/questions.jsonl evaluation/data/squad-en/pdfs/*.pdf

``--spawn`` starts a server on a free port over an empty temporary data folder, seeds it with one
document (or the SEED_FILES, given after the options) and stops it at the end, printing its
memory (RSS, its child processes included) every ``--rss-every`` seconds as it runs; ``--fake``
gives that server the fake embedder and chat model, so the figures are the API's own overhead.
Without ``--spawn``, the server at ``--url`` is used as it is, and uploads add documents to its
collection (``--collection`` picks a scratch one).

The run stops after ``--requests`` requests or ``--duration`` seconds, whichever comes first;
requests in flight then finish. An upload counts until its ingestion job finishes. Latency
percentiles are over successful requests. Exit status: 0 without errors, 1 with errors (or when
the server never became healthy), 2 for bad arguments. Questions are drawn as from a shuffled
deck: each is asked once before any is asked again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import typer

from core.net import free_port

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.05  # between looks at an ingestion job: the granularity of upload latencies
ERRORS_SHOWN = 5
QUESTIONS = [
    "What is the Meridian project about?",
    "Who leads the Meridian project?",
    "When did the Meridian project start?",
    "Where is the Meridian test site?",
    "How much did the first phase of the project cost?",
    "Which rivers does the survey cover?",
    "What instruments measure the water quality?",
    "How often are the samples taken?",
    "What did the first report find?",
    "What are the next steps of the project?",
]
SEED_TEXT = """The Meridian project surveys water quality in the rivers Aller and Leine.
It is led by Dr. Ada Brandt and started in March 2021. The test site is near Celle.
The first phase cost 1.2 million euros. Multiparameter probes and sonar instruments measure
the water quality. Samples are taken every two weeks. The first report found that nitrate
levels fell by twelve percent. The next steps are a second site and an open data portal."""


class RequestFailed(Exception):
    """A request that answered with the wrong status or body, or an ingestion job that failed."""


class LoadError(Exception):
    """The load test cannot run, e.g. the server never became healthy."""


# -- arguments --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadOptions:
    """What a run does: the command's options, checked."""

    url: str
    spawn: bool
    fake: bool
    requests: int
    duration: float
    clients: int
    mix: dict[str, int]
    seed_files: list[Path]
    rss_every: float
    collection: str | None
    key: str | None
    wait: float
    timeout: float
    seed: int


def parse_mix(text: str) -> dict[str, int]:
    """``ask=1,search=4,upload=1`` -> weights by operation (a bare name weighs 1).

    Raises:
        typer.BadParameter: naming --mix, for an unknown operation, a weight that is not a
            whole number of 0 or more, or no weight above 0.
    """
    mix: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, equals, weight = part.partition("=")
        name = name.strip()
        if name not in OPERATIONS:
            known = ", ".join(OPERATIONS)
            raise _bad_mix(f"unknown operation {name!r} (known: {known})")
        try:
            mix[name] = int(weight) if equals else 1
        except ValueError:
            raise _bad_mix(f"weight of {name!r} must be a whole number, got {weight!r}") from None
        if mix[name] < 0:
            raise _bad_mix(f"weight of {name!r} is negative: {mix[name]}")
    if sum(mix.values()) <= 0:
        raise _bad_mix(f"the mix {text!r} gives no operation a weight above 0")
    return mix


def _bad_mix(message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint="--mix")


def loopback_url(url: str) -> str:
    """The URL without a trailing slash, if it is http(s) to this machine; refused otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise typer.BadParameter(f"{url!r} is not an http:// or https:// URL")
    if not _is_loopback(host):
        raise typer.BadParameter(
            f"host {host!r} is not this machine: this is a local benchmark, so the URL must be "
            "on 127.0.0.1, localhost or ::1"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost
        return False


def above_zero(value: float) -> float:
    """A typer callback: ``value``, refused unless above 0."""
    if value <= 0:
        raise typer.BadParameter(f"must be above 0, got {value:g}")
    return value


def load_questions(path: Path) -> list[str]:
    """Questions from a JSONL file with a ``question`` field on each line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LoadError(f"cannot read the questions: {exc}") from exc
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            questions.append(str(json.loads(line)["question"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise LoadError(f"{path}:{number}: no JSON object with a 'question' ({exc})") from exc
    if not questions:
        raise LoadError(f"{path} holds no questions")
    return questions


# -- the operations ---------------------------------------------------------------------------
@dataclass
class Context:
    """What every client shares: the HTTP client, the questions, the options."""

    http: httpx.AsyncClient
    questions: list[str]
    collection: str | None
    timeout: float
    rng: random.Random
    uploads: Iterator[int] = field(default_factory=itertools.count)
    _deck: list[str] = field(default_factory=list)

    def question(self) -> str:
        """The next question of a shuffled deck: each is asked once before any is asked again,
        as users ask distinct questions (a repeated one is read from the model's cache)."""
        if not self._deck:
            self._deck = self.rng.sample(self.questions, len(self.questions))
        return self._deck.pop()

    def scope(self) -> dict[str, str]:
        return {"collection": self.collection} if self.collection else {}


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    """The JSON body if the status is ``status``; else RequestFailed with the API's message."""
    if response.status_code != status:
        raise RequestFailed(describe_error(response))
    body = response.json()
    if not isinstance(body, dict):
        raise RequestFailed(f"{status} with a body that is not a JSON object")
    return body


def describe_error(response: httpx.Response) -> str:
    """``503 model_unavailable: <message>`` from the API's error shape, else the raw body."""
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:200]}"


def require(body: dict[str, Any], key: str, route: str) -> None:
    if key not in body:
        raise RequestFailed(f"{route} answered without {key!r}: {sorted(body)}")


async def search(ctx: Context) -> None:
    body = {"query": ctx.question(), **ctx.scope()}
    require(expect(await ctx.http.post("/search", json=body), 200), "hits", "/search")


async def ask(ctx: Context) -> None:
    body = {"question": ctx.question(), **ctx.scope()}
    require(expect(await ctx.http.post("/ask", json=body), 200), "answer", "/ask")


async def upload(ctx: Context) -> None:
    """Upload one new text document and wait for its ingestion job to finish."""
    n = next(ctx.uploads)
    # A token of its own, so that no upload is a duplicate of an earlier one, in any run.
    text = f"Load test document {n} ({uuid.uuid4().hex}).\n\n{SEED_TEXT}\n"
    files = [("files", (f"load-{n}.txt", text.encode(), "text/plain"))]
    response = await ctx.http.post("/documents", files=files, params=ctx.scope())
    for job in expect(response, 202)["jobs"]:
        done = await wait_for_job(ctx, job["id"])
        if done["state"] != "succeeded":
            error = done.get("error") or {}
            raise RequestFailed(f"job {done['state']}: {error.get('message', done)}")


async def wait_for_job(ctx: Context, job_id: str) -> dict[str, Any]:
    give_up = time.perf_counter() + ctx.timeout
    while True:
        job = expect(await ctx.http.get(f"/jobs/{job_id}"), 200)
        if job.get("finished_at") is not None:
            return job
        if time.perf_counter() > give_up:
            raise RequestFailed(f"job {job_id} unfinished after {ctx.timeout:g} s: {job['state']}")
        await asyncio.sleep(POLL_S)


OPERATIONS: dict[str, Callable[[Context], Awaitable[None]]] = {
    "ask": ask,
    "search": search,
    "upload": upload,
}


# -- the clients ------------------------------------------------------------------------------
@dataclass
class Sample:
    operation: str
    seconds: float
    error: str | None


@dataclass
class Budget:
    """Requests left, and the moment after which no new request starts."""

    left: int
    deadline: float

    def take(self) -> bool:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.left -= 1  # no lock: the clients share one event loop
        return True


async def timed(ctx: Context, operation: str) -> Sample:
    start = time.perf_counter()
    try:
        await OPERATIONS[operation](ctx)
        error = None
    except RequestFailed as exc:
        error = f"{operation}: {exc}"
    # Transport failures, and bodies that are not JSON or not of the documented shape.
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        error = f"{operation}: {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
    return Sample(operation, time.perf_counter() - start, error)


async def client(ctx: Context, budget: Budget, mix: dict[str, int], out: list[Sample]) -> None:
    names, weights = list(mix), list(mix.values())
    while budget.take():
        out.append(await timed(ctx, ctx.rng.choices(names, weights)[0]))


async def wait_until_healthy(http: httpx.AsyncClient, wait_s: float, server: Server | None) -> None:
    """Poll ``/health`` until it answers 200; LoadError after ``wait_s`` or if the server died."""
    health = f"{str(http.base_url).rstrip('/')}/health"
    give_up, last = time.perf_counter() + wait_s, "no answer"
    while time.perf_counter() < give_up:
        if server is not None and server.exited():
            raise LoadError(f"the server stopped at start-up; its log ends:\n{server.log_tail()}")
        try:
            response = await http.get("/health")
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.5)
    raise LoadError(f"{health} did not answer 200 within {wait_s:g} s; last: {last}")


async def run(
    options: LoadOptions, questions: list[str], url: str, server: Server | None
) -> dict[str, Any]:
    """Wait for the server, seed it if spawned, run the clients; returns the report."""
    headers = {"Authorization": f"Bearer {options.key}"} if options.key else {}
    # trust_env=False: a proxy from the environment must not sit between us and loopback.
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=options.timeout, trust_env=False
    ) as http:
        note(f"waiting for {url}/health (up to {options.wait:g} s)")
        await wait_until_healthy(http, options.wait, server)
        ctx = Context(
            http, questions, options.collection, options.timeout, random.Random(options.seed)
        )
        if server is not None:
            await seed(ctx, options.seed_files)
        limits = f"up to {options.requests} requests or {options.duration:g} s"
        note(f"{options.clients} clients, {limits}")
        samples: list[Sample] = []
        start = time.perf_counter()
        budget = Budget(options.requests, start + options.duration)
        memory: list[float] = []
        timeline: list[dict[str, float]] = []
        watcher = None
        if server is not None:
            watch = watch_memory(server, memory, samples, timeline, start, options.rss_every)
            watcher = asyncio.create_task(watch)
        await asyncio.gather(
            *(client(ctx, budget, options.mix, samples) for _ in range(options.clients))
        )
        wall = time.perf_counter() - start
        if watcher is not None:
            watcher.cancel()
    result = report(samples, wall, url, options)
    if memory:
        third = max(1, len(memory) // 3)
        result["server_rss_mb"] = {
            "start": memory[0],
            "first_third_peak": max(memory[:third]),
            "peak": max(memory),
            "end": memory[-1],
        }
        result["server_rss_timeline"] = timeline
    return result


async def seed(ctx: Context, files: list[Path] | None) -> None:
    """Upload ``files`` (or one short text) and wait until they are indexed."""
    if not files:
        note("seeding the server with one document")
        if (seeded := await timed(ctx, "upload")).error:
            raise LoadError(f"seeding failed: {seeded.error}")
        return
    note(f"seeding the server with {len(files)} files")
    for path in files:
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise LoadError(f"cannot read {path}: {exc}") from exc
        upload_files = [("files", (path.name, content, "application/octet-stream"))]
        response = await ctx.http.post("/documents", files=upload_files, params=ctx.scope())
        try:
            for job in expect(response, 202)["jobs"]:
                done = await wait_for_job(ctx, job["id"])
                if done["state"] != "succeeded":
                    raise LoadError(f"seeding {path.name}: job {done['state']}")
        except RequestFailed as exc:
            raise LoadError(f"seeding {path.name} failed: {exc}") from exc


async def watch_memory(
    server: Server,
    out: list[float],
    samples: list[Sample],
    timeline: list[dict[str, float]],
    start: float,
    line_every_s: float,
    every_s: float = 0.5,
) -> None:
    """The server's resident memory (MiB), its child processes included, every ``every_s``;
    every ``line_every_s`` a point of the timeline, also printed (so a growth shows as it
    happens, and a run cut short still says how memory went)."""
    next_line = start
    while True:
        out.append(server.rss_mb())
        now = time.perf_counter()
        if now >= next_line:
            point = {"t_s": now - start, "requests": len(samples), "rss_mb": out[-1]}
            timeline.append(point)
            note(
                f"  {point['t_s']:6.0f} s  {len(samples):5d} requests done  "
                f"server RSS {out[-1]:7.0f} MiB"
            )
            next_line += line_every_s
        await asyncio.sleep(every_s)


# -- the report -------------------------------------------------------------------------------
def summary(samples: list[Sample], wall: float) -> dict[str, Any]:
    """Count, errors, throughput and latency percentiles (ms, successful requests only)."""
    ok = np.array([s.seconds for s in samples if s.error is None]) * 1000
    p50, p95, p99 = np.percentile(ok, [50, 95, 99]).tolist() if ok.size else (None,) * 3
    return {
        "count": len(samples),
        "errors": sum(s.error is not None for s in samples),
        "throughput": len(samples) / wall if wall > 0 else 0.0,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": float(ok.max()) if ok.size else None,
    }


def report(samples: list[Sample], wall: float, url: str, options: LoadOptions) -> dict[str, Any]:
    errors = Counter(s.error for s in samples if s.error is not None)
    operations = {op: [s for s in samples if s.operation == op] for op in options.mix}
    return {
        "url": url,
        "spawned": options.spawn,
        "fake": options.spawn and options.fake,
        "clients": options.clients,
        "mix": options.mix,
        "wall_s": wall,
        "operations": {op: summary(group, wall) for op, group in operations.items() if group},
        "overall": summary(samples, wall),
        "errors": [{"message": m, "count": c} for m, c in errors.most_common()],
    }


def print_table(result: dict[str, Any]) -> None:
    columns = ("count", "errors", "throughput", "p50_ms", "p95_ms", "p99_ms", "max_ms")
    heads = ("operation", "count", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
    print("".join(f"{h:>10}" if i else f"{h:<10}" for i, h in enumerate(heads)))
    rows = [*result["operations"].items(), ("overall", result["overall"])]
    for name, figures in rows:
        cells = (_cell(figures[c]) for c in columns)
        print(f"{name:<10}" + "".join(f"{c:>10}" for c in cells))
    print(f"\nwall time {result['wall_s']:.2f} s, {result['clients']} clients, {result['url']}")
    if rss := result.get("server_rss_mb"):
        print(
            f"server memory (RSS, children included): {rss['start']:.0f} MiB at the start, "
            f"{rss['first_third_peak']:.0f} peak in the first third, {rss['peak']:.0f} peak, "
            f"{rss['end']:.0f} at the end"
        )
    if timeline := result.get("server_rss_timeline"):
        print("server memory over time:")
        for point in timeline:
            print(
                f"  {point['t_s']:6.0f} s  {point['requests']:5d} requests  "
                f"{point['rss_mb']:7.0f} MiB"
            )
    for error in result["errors"][:ERRORS_SHOWN]:
        print(f"  {error['count']} x {error['message']}")
    if len(result["errors"]) > ERRORS_SHOWN:
        print(f"  ... and {len(result['errors']) - ERRORS_SHOWN} other distinct errors")


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"  # slow runs: 0.05 req/s, not 0.0


def note(message: str) -> None:
    """Progress, on stderr so that ``--json`` output stays clean."""
    print(message, file=sys.stderr, flush=True)


# -- a server of our own ----------------------------------------------------------------------
class Server:
    """A kbqa API in a subprocess, on a free loopback port, over a temporary data folder."""

    def __init__(self, fake: bool, key: str | None) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="kbqa-load-")
        self._log_path = Path(self._folder.name) / "server.log"
        self.url = f"http://127.0.0.1:{free_port()}"
        command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
        command += ["--host", "127.0.0.1", "--port", self.url.rsplit(":", 1)[1]]
        # No access log: one line per request would be part of what we measure.
        command += ["--no-access-log"]
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, cwd=ROOT, env=self._env(fake, key), stdout=log, stderr=subprocess.STDOUT
            )

    def _env(self, fake: bool, key: str | None) -> dict[str, str]:
        env = {**os.environ, "KBQA_DATA_DIR": str(Path(self._folder.name) / "data")}
        # Keys from the environment or .env must not lock out a client that has none.
        env["KBQA_API__KEYS"] = json.dumps([key] if key else [])
        env["KBQA_API__READ_KEYS"] = "[]"
        if fake:
            env["KBQA_EMBEDDING__BACKEND"] = env["KBQA_LLM__BACKEND"] = "fake"
        return env

    @property
    def pid(self) -> int:
        return self._process.pid

    def rss_mb(self) -> float:
        """Resident memory of the server and its children (the parser, a model server), MiB."""
        return tree_rss_mib(self._process.pid)

    def exited(self) -> bool:
        return self._process.poll() is not None

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate (uvicorn shuts down gracefully), kill if it takes too long; clean up."""
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._folder.cleanup()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` and all its descendants, MiB (from /proc)."""
    return sum(_rss_kib(p) for p in _tree(pid)) / 1024


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@contextlib.contextmanager
def server_for(options: LoadOptions) -> Iterator[Server | None]:
    if not options.spawn:
        yield None
        return
    server = Server(options.fake, options.key)
    note(f"started a server at {server.url} ({'fake' if options.fake else 'real'} backends)")
    try:
        yield server
    finally:
        server.stop()


def load(
    seed_files: Annotated[
        list[Path] | None,
        typer.Argument(
            exists=True,
            dir_okay=False,
            metavar="SEED_FILES",
            help="With --spawn: upload these (PDFs, text) before the run, instead of one short "
            "text.",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str, typer.Option(parser=loopback_url, help="The server to load, on this machine.")
    ] = "http://127.0.0.1:8000",
    spawn: Annotated[bool, typer.Option(help="Start a server of our own (ignores --url).")] = False,
    fake: Annotated[bool, typer.Option(help="With --spawn: fake embedder and model.")] = False,
    requests: Annotated[int, typer.Option(min=1, help="At most this many requests.")] = 200,
    duration: Annotated[float, typer.Option(callback=above_zero, help="At most, seconds.")] = 60.0,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 8,
    mix: Annotated[
        str, typer.Option(help="Weights of the operations: ask, search, upload.")
    ] = "ask=1,search=4,upload=1",
    questions: Annotated[
        Path | None, typer.Option(help="JSONL with a 'question' on each line.")
    ] = None,
    rss_every: Annotated[
        float,
        typer.Option(
            callback=above_zero,
            help="With --spawn: seconds between the lines of server memory printed as it runs.",
        ),
    ] = 10.0,
    collection: Annotated[
        str | None, typer.Option(help="Collection to search and upload to (server default).")
    ] = None,
    key: Annotated[str | None, typer.Option(envvar="KBQA_API_KEY", help="API key.")] = None,
    wait: Annotated[float, typer.Option(callback=above_zero, help="Seconds for /health.")] = 300.0,
    timeout: Annotated[
        float, typer.Option(callback=above_zero, help="Seconds per request.")
    ] = 120.0,
    seed: Annotated[int, typer.Option(help="Seed of the operation mix.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON object instead of tables.")
    ] = False,
) -> None:
    """API throughput and latency with concurrent clients.

    Exit status 1 when a request failed or the server never became healthy (docs/benchmarks.md,
    "Load")."""
    weights = parse_mix(mix)
    if fake and not spawn:
        note("--fake only applies with --spawn: the server at --url keeps its own backends")
    if seed_files and not spawn:
        note("SEED_FILES only apply with --spawn: the server at --url keeps its documents")
    options = LoadOptions(
        url=url,
        spawn=spawn,
        fake=fake,
        requests=requests,
        duration=duration,
        clients=clients,
        mix=weights,
        seed_files=seed_files or [],
        rss_every=rss_every,
        collection=collection,
        key=key,
        wait=wait,
        timeout=timeout,
        seed=seed,
    )
    try:
        asked = load_questions(questions) if questions else QUESTIONS
        with server_for(options) as server:
            result = asyncio.run(run(options, asked, server.url if server else url, server))
    except LoadError as exc:
        note(f"error: {exc}")
        raise typer.Exit(code=1) from None
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    raise typer.Exit(code=1 if result["overall"]["errors"] else 0)
