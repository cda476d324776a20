"""The FastAPI application: routers, error handlers, metrics, and the service's lifetime."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse

from api.deps import reject_unknown_query
from api.errors import install_error_handlers
from api.limits import BodyLimitMiddleware
from api.metrics import ApiMetrics, MetricsMiddleware
from api.routes import (
    ask,
    collections,
    conversations,
    documents,
    feedback,
    health,
    jobs,
    keys,
    openai,
    search,
)
from core.errors import IndexUnavailableError
from core.settings import Settings
from kbqa.app import KBQA

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def create_app(
    settings: Settings | None = None,
    service: KBQA | None = None,
    warm_up: bool = True,
    on_shutdown: Sequence[Callable[[], None]] = (),
) -> FastAPI:
    """Build the API over a KBQA service (one is made from ``settings`` if not given).

    With ``warm_up``, the index and models load in the background as the server starts;
    ``/health`` answers 503 until they are ready. ``on_shutdown`` runs when the server stops,
    whatever stops it (uvicorn re-raises SIGTERM after its shutdown, so code after
    ``uvicorn.run`` may never run).
    """
    service = service or KBQA(settings)
    settings = service.settings
    queue = service.job_queue(settings.api.jobs_kept)
    metrics = ApiMetrics(stats=lambda: service.stats(load=False), jobs=queue.counts)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stopping = threading.Event()
        if warm_up:
            threading.Thread(target=_warm_up, args=(app, service, stopping), daemon=True).start()
        yield
        stopping.set()
        for stop in on_shutdown:
            stop()
        queue.close()
        service.close()

    app = FastAPI(
        title="kbqa",
        version=VERSION,
        description="Questions answered from your documents, with citations to document "
        "and page. Send `Authorization: Bearer <key>` on every route but /health.",
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.kbqa, app.state.jobs, app.state.metrics = service, queue, metrics
    app.state.startup_error = None
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=int(service.settings.api.max_request_mb * 2**20)
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    routers = (ask, search, conversations, feedback, documents, jobs, collections, keys, health)
    for module in (*routers, openai):
        app.include_router(module.router)
    app.add_api_route("/", lambda: RedirectResponse("/docs"), include_in_schema=False)
    return app


def _warm_up(app: FastAPI, service: KBQA, stopping: threading.Event, retry_s: float = 2.0) -> None:
    while True:
        try:
            service.warm_up()
            app.state.startup_error = None
            log.info("kbqa is ready")
            return
        except IndexUnavailableError as exc:  # a Milvus not up yet: said by /health, tried again
            log.warning("%s; trying again in %gs", exc, retry_s)
            app.state.startup_error = str(exc)
            if stopping.wait(retry_s):
                return
        except Exception as exc:  # reported by /health; the API still serves what it can
            log.exception("kbqa failed to start")
            app.state.startup_error = str(exc)
            return
