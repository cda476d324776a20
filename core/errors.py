"""Domain errors. Each names the bad value; the CLI and API translate them at their boundary.

An error people often meet is made from the message catalog (:meth:`KbqaError.said`), so the
API can say it in the request's language (:meth:`KbqaError.localized`); the others are English
sentences, which another language prefixes with a sentence of its own for the error's code.
"""

from __future__ import annotations

from typing import Self

from core.i18n import DEFAULT_LANG, Lang, has_message, message


class KbqaError(Exception):
    """Base of every error kbqa raises on purpose."""

    code = "error"
    key: str | None = None  # the catalog's message, when made by said()
    values: dict[str, object] = {}  # noqa: RUF012 - replaced, never changed in place

    @classmethod
    def said(cls, key: str, **values: object) -> Self:
        """This error with the catalog's message ``key`` (English as ``str()``)."""
        error = cls(message(key, DEFAULT_LANG, **values))
        error.key, error.values = key, values
        return error

    def localized(self, lang: Lang) -> str:
        """The error's message in ``lang``."""
        if self.key is not None:
            return message(self.key, lang, **self.values)
        if lang == DEFAULT_LANG:
            return str(self)
        return message(f"errors.{self.code}", lang, detail=str(self))


class InvalidRequestError(KbqaError, ValueError):
    """A request that cannot be served as asked: empty question, bad collection name, ..."""

    code = "invalid_request"


class TooLongError(InvalidRequestError):
    """A text over its length limit (a question, a search): the sentence says both lengths."""

    code = "too_long"

    def __init__(self, what: str, length: int, limit: int) -> None:
        self.what = what
        self.length = length
        self.limit = limit
        super().__init__(self.localized(DEFAULT_LANG))

    def localized(self, lang: Lang) -> str:
        # "question" and "query" are words of the catalog; a field such as bad_words[1] is
        # named as the request spells it.
        field = f"fields.{self.what}"
        what = message(field, lang) if has_message(field) else self.what
        return message(
            "errors.too_long", lang, what=what, length=f"{self.length:,}", limit=f"{self.limit:,}"
        )

    def __reduce__(self) -> tuple[type, tuple[str, int, int]]:
        return (type(self), (self.what, self.length, self.limit))


class PageNotDrawnError(InvalidRequestError):
    """A page of a kept file that cannot be drawn as an image (broken, too slow, too large):
    the file is indexed all the same; only the picture of that page is missing."""

    code = "page_not_drawn"

    def __init__(self, filename: str, page: int, why: str) -> None:
        self.filename = filename
        self.page = page
        self.why = why
        super().__init__(f"page {page} of {filename!r} could not be drawn: {why}")

    def __reduce__(self) -> tuple[type, tuple[str, int, str]]:
        return (type(self), (self.filename, self.page, self.why))


class IngestError(KbqaError):
    """A file could not be indexed. The index is left as it was.

    Attributes:
        filename: the file's name as the user gave it.
        reason: a short machine-readable code (``encrypted``, ``corrupt``, ``empty``,
            ``needs_ocr``, ``unsupported_type``, ``too_large``).
        detail: a sentence for people.
    """

    code = "ingest_failed"

    def __init__(self, filename: str, reason: str, detail: str) -> None:
        self.filename = filename
        self.reason = reason
        self.detail = detail
        super().__init__(f"{filename}: {detail} ({reason})")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        # Pickled whole, so that it crosses from the isolated parser's process intact.
        return (type(self), (self.filename, self.reason, self.detail))

    def localized(self, lang: Lang) -> str:
        """English: the detail, which names the bad value; another language says what the
        reason means (the English detail is in the log)."""
        return ingest_failure(self.filename, self.reason, str(self), lang)


def ingest_failure(filename: str, reason: str | None, said: str, lang: Lang) -> str:
    """Why ``filename`` could not be indexed, in ``lang``: ``said`` (the English sentence) in
    English, else the catalog's sentence for ``reason``."""
    if lang == DEFAULT_LANG:
        return said
    if reason is not None and has_message(f"ingest.{reason}"):
        return message(f"ingest.{reason}", lang, filename=filename)
    return message("errors.ingest_failed", lang, detail=said)


class NotFoundError(KbqaError):
    """A document, collection or job that does not exist."""

    code = "not_found"


class IndexMismatchError(KbqaError):
    """The index on disk was built with another embedding model or dimension."""

    code = "index_mismatch"


class IndexUnavailableError(KbqaError):
    """The index's server (Milvus) cannot be reached or refused a call; nothing half-written
    is visible. Worth retrying later."""

    code = "index_unavailable"


class StateUnavailableError(KbqaError):
    """The shared state's database (PostgreSQL) cannot be reached or failed a call; nothing
    half-written is visible. Worth retrying later."""

    code = "state_unavailable"


class ConflictError(KbqaError):
    """A request that contradicts the server's state (e.g. keys made while the API is open)."""

    code = "conflict"


class ModelError(KbqaError):
    """The chat model or its server is unavailable or misconfigured."""

    code = "model_unavailable"


class ModelAssetError(KbqaError):
    """A packaged model file is missing or fails its checksum."""

    code = "model_asset"
