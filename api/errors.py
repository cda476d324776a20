"""One error shape for every failure, and the one place domain errors become HTTP statuses.

Every error body is ``{"error": {"code", "message", "status", "detail"}}``: the same for bad
JSON, a missing key, an unknown document or a broken upload. ``error.message`` is also where
OpenAI clients look, so the ``/v1`` endpoints need no shape of their own. The message is in
the question's language, or the Accept-Language header's (:mod:`api.language`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from api.language import request_language
from core.errors import (
    ConflictError,
    IndexMismatchError,
    IndexUnavailableError,
    IngestError,
    InvalidRequestError,
    KbqaError,
    ModelError,
    NotFoundError,
    StateUnavailableError,
    TooLongError,
)
from core.i18n import DEFAULT_LANG, Lang, message

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. 'not_found'.")
    message: str = Field(description="A sentence for people that names the bad value.")
    status: int
    detail: Any = Field(None, description="More about the error, e.g. invalid fields.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Unauthorized(KbqaError):
    code = "unauthorized"


class Forbidden(KbqaError):
    code = "forbidden"


class PayloadTooLarge(KbqaError):
    code = "too_large"


# IngestError reasons with a status of their own; other reasons are 422.
_INGEST_STATUS = {"too_large": 413, "unsupported_type": 415}
_STATUS = {
    InvalidRequestError: 422,
    NotFoundError: 404,
    Unauthorized: 401,
    Forbidden: 403,
    PayloadTooLarge: 413,
    ConflictError: 409,
    ModelError: 503,
    IndexMismatchError: 503,
    IndexUnavailableError: 503,
    StateUnavailableError: 503,
}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_type",
    429: "too_many_requests",
}


def error_body(status: int, code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return ErrorBody(
        error=ErrorDetail(code=code, message=message, status=status, detail=detail)
    ).model_dump()


def error_response(
    status: int,
    code: str,
    message: str,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, code, message, detail), status, headers=headers)


def describe(exc: Exception, lang: Lang = DEFAULT_LANG) -> tuple[int, str, str, Any]:
    """(status, code, message, detail) for any exception, its message in ``lang``."""
    if isinstance(exc, IngestError):
        status = _INGEST_STATUS.get(exc.reason, 422)
        detail = {"filename": exc.filename, "reason": exc.reason}
        return status, exc.code, exc.localized(lang), detail
    if isinstance(exc, TooLongError):
        lengths = {"field": exc.what, "length": exc.length, "limit": exc.limit}
        return 422, exc.code, exc.localized(lang), lengths
    if isinstance(exc, KbqaError):
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
        return status, exc.code, exc.localized(lang), None
    return 500, "internal", message("errors.internal", lang), None


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = _validation_detail(exc)
    lang = request_language(request, exc.body)
    if any(e["type"] == "json_invalid" for e in detail):
        return error_response(400, "invalid_json", message("errors.json_invalid", lang), detail)
    if any(e["loc"] == ["body"] for e in detail):  # no body, or JSON that is not an object
        return error_response(400, "invalid_json", message("errors.json_not_object", lang), detail)
    too_long = next((e for e in exc.errors() if e.get("type") == "string_too_long"), None)
    if too_long is not None:  # a sentence with both lengths, as the service says it
        return error_response(*describe(_too_long(too_long), lang)[:4])
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"][1:]) or "request"
    said = message("errors.invalid_field", lang, field=where, detail=first["msg"])
    return error_response(422, "invalid_request", said, detail)


def _too_long(error: Mapping[str, Any]) -> TooLongError:
    """Pydantic's "String should have at most 4000 characters" as the sentence kbqa says it:
    the field as the request's JSON spells it ("question", "bad_words[1]"; not
    "body.question"), its length and the limit."""
    loc = error.get("loc", ())
    what = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:]).lstrip(
        "."
    )
    what = what or "text"
    value = error.get("input")
    limit = int(error.get("ctx", {}).get("max_length", 0))
    length = len(value) if isinstance(value, str) else 0
    # A request's strings are measured stripped (_Request): the input pydantic hands back is not.
    if isinstance(value, str) and len(value.strip()) > limit:
        length = len(value.strip())
    return TooLongError(what, length, limit)


async def _on_http(request: Request, exc: HTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "error")
    lang = request_language(request)
    said = str(exc.detail) if exc.detail else code.replace("_", " ")
    if exc.status_code == 404 and exc.detail == "Not Found":
        said = message("errors.no_endpoint", lang, method=request.method, path=request.url.path)
    elif lang != DEFAULT_LANG:
        said = message(f"errors.{code}", lang, detail=said)
    return error_response(exc.status_code, code, said, headers=exc.headers)


async def _on_kbqa(request: Request, exc: Exception) -> JSONResponse:
    status, code, said, detail = describe(exc, request_language(request))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(status, code, said, detail, headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(*describe(exc, request_language(request))[:3])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(KbqaError, _on_kbqa)
    app.add_exception_handler(Exception, _on_unexpected)


# For the OpenAPI schema of every route: what an error looks like.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}
