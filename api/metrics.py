"""Prometheus metrics: requests, latency per route and per pipeline stage, index size, jobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

disable_created_metrics()  # *_created series double the output and say little
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _StateCollector(Collector):
    """Gauges read at scrape time, so they are never stale: documents, chunks, jobs."""

    def __init__(
        self,
        stats: Callable[[], Mapping[str, tuple[int, int]]],
        jobs: Callable[[], Mapping[str, int]],
    ) -> None:
        self.stats = stats
        self.jobs = jobs

    def collect(self) -> Iterator[Metric]:
        documents = GaugeMetricFamily("kbqa_documents", "Documents indexed.", labels=["collection"])
        chunks = GaugeMetricFamily("kbqa_chunks", "Chunks indexed.", labels=["collection"])
        for collection, (n_docs, n_chunks) in self.stats().items():
            documents.add_metric([collection], n_docs)
            chunks.add_metric([collection], n_chunks)
        jobs = GaugeMetricFamily("kbqa_ingest_jobs", "Ingestion jobs by state.", labels=["state"])
        for state, count in self.jobs().items():
            jobs.add_metric([state], count)
        yield from (documents, chunks, jobs)


class ApiMetrics:
    """The app's own registry (not the global one), so several apps can live in one process."""

    def __init__(
        self,
        stats: Callable[[], Mapping[str, tuple[int, int]]],
        jobs: Callable[[], Mapping[str, int]],
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kbqa_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kbqa_http_request_seconds",
            "Time to the end of the response (streams included).",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "kbqa_stage_seconds",
            "Time per pipeline stage: embed, dense, bm25, rerank, retrieval, first_token, ...",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(stats, jobs))

    def observe_stages(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stages.labels(stage).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every request by its route template (``/documents/{document_id}``)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
