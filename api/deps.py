"""Dependencies of the routes, as ``Annotated`` aliases: the service, the job queue, access."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Forbidden, Unauthorized
from api.metrics import ApiMetrics
from core.settings import ApiSettings
from kbqa.app import KBQA
from kbqa.jobs import JobQueue

_bearer = HTTPBearer(auto_error=False, description="An API key from KBQA_API__KEYS.")


def get_service(request: Request) -> KBQA:
    return request.app.state.kbqa  # type: ignore[no-any-return]


def get_jobs(request: Request) -> JobQueue:
    return request.app.state.jobs  # type: ignore[no-any-return]


def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


Service = Annotated[KBQA, Depends(get_service)]
Jobs = Annotated[JobQueue, Depends(get_jobs)]
Metrics = Annotated[ApiMetrics, Depends(get_metrics)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def _matches(key: str, keys: list[str]) -> bool:
    # compare_digest on each: how long a check takes says nothing about the keys.
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


def _access(settings: ApiSettings, credentials: HTTPAuthorizationCredentials | None) -> str:
    """'write', 'read' or 'none' for the request's bearer key."""
    if not settings.auth_enabled:
        return "write"
    if credentials is None:
        raise Unauthorized("missing API key: send the header 'Authorization: Bearer <key>'")
    if _matches(credentials.credentials, settings.keys):
        return "write"
    if _matches(credentials.credentials, settings.read_keys):
        return "read"
    raise Unauthorized("invalid API key")


def require_read(service: Service, credentials: Credentials) -> None:
    _access(service.settings.api, credentials)


def require_write(service: Service, credentials: Credentials) -> None:
    if _access(service.settings.api, credentials) != "write":
        raise Forbidden("this API key may read but not change documents or collections")


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
