"""The language the API speaks to a request: the question's when it has one (an answer's notes
and its errors alike), else the Accept-Language header's. See :mod:`core.i18n`."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from core.errors import IngestError, ingest_failure
from core.i18n import DEFAULT_LANG, Lang, language_of, message, parse_lang
from core.types import Job


def asked_in(request: Request, question: str) -> Lang:
    """The language of ``question``, kept for whatever error the request meets later."""
    lang = language_of(question)
    request.state.lang = lang
    return lang


def request_language(request: Request, body: Any = None) -> Lang:
    """The language of the request's question (as :func:`asked_in` kept it, or in ``body``,
    the JSON a request that failed validation sent: its question or search query), else of
    its Accept-Language header."""
    kept: Lang | None = getattr(request.state, "lang", None)
    if kept is not None:
        return kept
    question = (body.get("question") or body.get("query")) if isinstance(body, dict) else None
    if isinstance(question, str) and question.strip():
        return language_of(question)
    return parse_lang(request.headers.get("accept-language"))


def job_in(job: Job, lang: Lang) -> Job:
    """``job`` with its error said in ``lang``: a failed upload is read by the person who sent
    it, in the language of the client that asks (the UI sends its own)."""
    error = job.error
    if error is None or lang == DEFAULT_LANG:
        return job
    if error.code == IngestError.code:
        said = ingest_failure(job.filename, error.reason, error.message, lang)
    else:
        said = message(f"errors.{error.code}", lang, detail=error.message)
    return job.model_copy(update={"error": error.model_copy(update={"message": said})})
