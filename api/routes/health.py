"""GET /health (no key needed) and GET /metrics (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import Metrics, ReadAccess, Service
from api.errors import ERROR_RESPONSES
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/health", responses={503: {"model": Health, "description": "Not ready yet."}})
def health(request: Request, service: Service) -> JSONResponse:
    """Ready (200) when the index is open and the chat model answers; 503 until then, and while
    the index's server (Milvus) or the shared state's database (PostgreSQL) is unreachable."""
    readiness = service.readiness()
    error = readiness.error or request.app.state.startup_error
    state = "ready" if readiness.ready else "unavailable" if error else "starting"
    body = Health(
        status=state,
        index=readiness.index,
        model=readiness.model,
        state=readiness.state,
        model_name=service.model_name,
        error=error,
    )
    return JSONResponse(body.model_dump(), status_code=200 if state == "ready" else 503)


@router.get(
    "/metrics",
    dependencies=[ReadAccess],
    response_class=Response,
    responses={**ERROR_RESPONSES, 200: {"content": {"text/plain": {}}}},
)
def metrics(metrics: Metrics) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
