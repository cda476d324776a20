"""A small client of the kbqa HTTP API for the UI, with errors people can read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

from core.i18n import DEFAULT_LANG, Lang, message
from core.types import (
    Answer,
    Conversation,
    ConversationSummary,
    Discard,
    Job,
    Stage,
    StagedItem,
)


class ApiError(Exception):
    """The API is unreachable, too slow, or refused a request; ``str()`` says which, plainly."""

    def __init__(self, message: str, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # for a refused file: 'encrypted', 'corrupt', ...


class ApiClient:
    """The API's client; ``lang`` is the language its errors are said in, the API's (asked
    for as Accept-Language) and its own."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 300,
        lang: Lang = DEFAULT_LANG,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        headers["Accept-Language"] = lang
        self.base_url = base_url.rstrip("/")
        self.lang = lang
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5),
            trust_env=False,  # the API is ours, never behind the user's proxy
        )

    # -- plumbing ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ApiError(self._say("client_timeout")) from exc
        except httpx.TransportError as exc:
            raise ApiError(self._say("client_unreachable")) from exc
        _raise_for_error(response, self.lang)
        return response

    def _say(self, key: str) -> str:
        return message(f"ui.{key}", self.lang, url=self.base_url)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # -- the API ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The health body, whatever its status (503 while the models load)."""
        try:
            return self._http.get("/health").json()  # type: ignore[no-any-return]
        except (httpx.TransportError, ValueError) as exc:
            raise ApiError(self._say("client_unreachable")) from exc

    def collections(self) -> dict[str, Any]:
        return self._json("GET", "/collections")  # type: ignore[no-any-return]

    def documents(self, collection: str) -> list[dict[str, Any]]:
        body = self._json("GET", "/documents", params={"collection": collection})
        return body["documents"]  # type: ignore[no-any-return]

    def delete_document(self, document_id: str, collection: str) -> None:
        self._request("DELETE", f"/documents/{document_id}", params={"collection": collection})

    def delete_collection(self, name: str) -> None:
        self._request("DELETE", f"/collections/{name}")

    def conversations(self, limit: int = 20) -> list[ConversationSummary]:
        body = self._json("GET", "/conversations", params={"limit": limit})
        return [ConversationSummary.model_validate(c) for c in body["conversations"]]

    def rename_conversation(self, conversation_id: str, title: str) -> None:
        self._request("PATCH", f"/conversations/{conversation_id}", json={"title": title})

    def delete_conversation(self, conversation_id: str) -> None:
        self._request("DELETE", f"/conversations/{conversation_id}")

    def upload(self, name: str, data: bytes, collection: str) -> Job:
        files = [("files", (name, data, "application/octet-stream"))]
        body = self._json("POST", "/documents", files=files, params={"collection": collection})
        return Job.model_validate(body["jobs"][0])

    def job(self, job_id: str) -> Job:
        return Job.model_validate(self._json("GET", f"/jobs/{job_id}"))

    def new_conversation(self) -> Conversation:
        return Conversation.model_validate(self._json("POST", "/conversations", json={}))

    def page_image(self, document_id: str, page: int, width: int, collection: str) -> bytes:
        """A page of a PDF as a PNG ``width`` pixels wide."""
        params = {"width": width, "collection": collection}
        return self._request("GET", f"/documents/{document_id}/pages/{page}", params=params).content

    def original(self, document_id: str, collection: str) -> bytes:
        """The document's file as it was uploaded."""
        params = {"collection": collection}
        return self._request("GET", f"/documents/{document_id}/file", params=params).content

    def conversation(self, conversation_id: str) -> Conversation:
        return Conversation.model_validate(self._json("GET", f"/conversations/{conversation_id}"))

    def feedback(self, rating: str, answer: Answer, conversation_id: str | None = None) -> None:
        """Thumbs ``up`` or ``down`` on an answer, kept with what was shown."""
        body = {
            "rating": rating,
            "question": answer.question,
            "answer": answer.answer,
            "citations": [c.model_dump(mode="json") for c in answer.citations],
            "conversation_id": conversation_id,
        }
        self._request("POST", "/feedback", json=body)

    def ask_stream(self, body: dict[str, Any]) -> Iterator[StagedItem]:
        """A :class:`Stage` as each step starts, answer text as it streams (a
        :class:`Discard` drops it), then the :class:`Answer`."""
        request = {**body, "stream": True, "stages": True}
        try:
            with connect_sse(self._http, "POST", "/ask", json=request) as source:
                if source.response.is_error:
                    source.response.read()
                    _raise_for_error(source.response, self.lang)
                yield from _events(source.iter_sse())
        except httpx.TimeoutException as exc:
            raise ApiError(self._say("client_model_timeout")) from exc
        except httpx.TransportError as exc:
            raise ApiError(self._say("client_lost")) from exc


def _events(events: Iterator[ServerSentEvent]) -> Iterator[StagedItem]:
    for sse in events:
        if sse.event == "stage":
            yield Stage.model_validate_json(sse.data)
        elif sse.event == "token":
            yield sse.json()["text"]
        elif sse.event == "discard":
            yield Discard.model_validate_json(sse.data)
        elif sse.event == "answer":
            yield Answer.model_validate_json(sse.data)
        elif sse.event == "error":
            error = sse.json()["error"]
            raise ApiError(error["message"], error["status"])


def _raise_for_error(response: httpx.Response, lang: Lang) -> None:
    if not response.is_error:
        return
    try:
        error = response.json()["error"]
        detail = error.get("detail")
        reason = detail.get("reason") if isinstance(detail, dict) else None
        raise ApiError(error["message"], response.status_code, reason)
    except (ValueError, KeyError, TypeError):
        said = message(
            "ui.client_answered", lang, status=response.status_code, body=response.text[:200]
        )
        raise ApiError(said, response.status_code) from None
