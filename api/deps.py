"""Dependencies of the routes, as ``Annotated`` aliases: the service, the job queue, access."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Forbidden, Unauthorized
from api.language import request_language
from api.metrics import ApiMetrics
from core.errors import InvalidRequestError
from core.i18n import Lang
from core.settings import ApiSettings
from kbqa.app import KBQA
from kbqa.jobs import JobQueue

_bearer = HTTPBearer(
    auto_error=False, description="An API key from KBQA_API__KEYS, or one made with POST /keys."
)


def get_service(request: Request) -> KBQA:
    return request.app.state.kbqa  # type: ignore[no-any-return]


def get_jobs(request: Request) -> JobQueue:
    return request.app.state.jobs  # type: ignore[no-any-return]


def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


def get_language(request: Request) -> Lang:
    return request_language(request)


Service = Annotated[KBQA, Depends(get_service)]
Jobs = Annotated[JobQueue, Depends(get_jobs)]
Metrics = Annotated[ApiMetrics, Depends(get_metrics)]
# The language to speak to the caller: Accept-Language's, or a question's (api/language.py).
Language = Annotated[Lang, Depends(get_language)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def _matches(key: str, keys: list[str]) -> bool:
    # compare_digest on each: how long a check takes says nothing about the keys.
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


@dataclass(frozen=True)
class Access:
    """What the request's key may do: change things or only read, and in which collections."""

    write: bool
    collections: frozenset[str] | None = None  # None: every collection

    def allow(self, names: list[str]) -> list[str]:
        """``names``, if the key may use them all; else Forbidden naming the others."""
        if self.collections is not None:
            denied = [name for name in names if name not in self.collections]
            if denied:
                listed = ", ".join(repr(name) for name in denied)
                raise Forbidden.said("errors.collections_denied", collections=listed)
        return names

    def visible(self, names: list[str]) -> list[str]:
        """The ones of ``names`` the key may see."""
        return [n for n in names if self.collections is None or n in self.collections]


def _settings_access(settings: ApiSettings, key: str) -> Access | None:
    """What a key from the settings may do; None if it is not one of them."""
    if _matches(key, settings.keys):
        write = True
    elif _matches(key, settings.read_keys):
        write = False
    else:
        return None
    scoped = next(
        (names for k, names in settings.key_collections.items() if _matches(key, [k])), None
    )
    return Access(write, frozenset(scoped) if scoped is not None else None)


def _access(service: KBQA, credentials: HTTPAuthorizationCredentials | None) -> Access:
    settings = service.settings.api
    if not settings.auth_enabled:
        return Access(write=True)
    if credentials is None:
        raise Unauthorized.said("errors.missing_key")
    key = credentials.credentials
    access = _settings_access(settings, key)
    if access is not None:
        return access
    made = service.api_key(key)  # one made with POST /keys, on any node sharing the state
    if made is None:
        raise Unauthorized.said("errors.invalid_key")
    scoped = frozenset(made.collections) if made.collections is not None else None
    return Access(made.write, scoped)


def require_read(service: Service, credentials: Credentials) -> Access:
    return _access(service, credentials)


def require_write(service: Service, credentials: Credentials) -> Access:
    access = _access(service, credentials)
    if not access.write:
        raise Forbidden.said("errors.read_only_key")
    return access


def require_admin(service: Service, credentials: Credentials) -> Access:
    """A full key for every collection: it may make and revoke keys."""
    access = require_write(service, credentials)
    if access.collections is not None:
        raise Forbidden.said("errors.scoped_key_admin")
    return access


def _query_names(dependant: Dependant) -> Iterator[str]:
    yield from (param.alias for param in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def reject_unknown_query(request: Request) -> None:
    """A misspelt query parameter (``?colection=``) is an error, as a misspelt body field is."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = set(_query_names(dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise InvalidRequestError(f"unknown query parameter(s) {listed}")


ReadAccess = Depends(require_read)
Reader = Annotated[Access, Depends(require_read)]
Writer = Annotated[Access, Depends(require_write)]
AdminAccess = Depends(require_admin)
