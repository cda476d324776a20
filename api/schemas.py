"""Request and response bodies of the API (the shared types come from ``core.types``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from core.types import (
    MAX_QUESTION_CHARS,
    CollectionName,
    Document,
    Hit,
    Job,
    Sampling,
    Strategy,
    Turn,
)

MAX_COLLECTIONS = 16


class _Request(BaseModel):
    # A misspelt field is an error the caller should hear about, not something to drop; a
    # value of the wrong type (false for a seed, "3" for top_k) too, not something to guess at.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class _Scoped(_Request):
    collection: CollectionName | None = Field(None, description="One collection (knowledge base).")
    collections: list[CollectionName] | None = Field(
        None, max_length=MAX_COLLECTIONS, description="Several collections, searched together."
    )
    top_k: int | None = Field(None, ge=1, le=50, description="Chunks to retrieve.")

    def names(self) -> list[str] | None:
        names = [*(self.collections or []), *([self.collection] if self.collection else [])]
        return list(dict.fromkeys(names)) or None


# Not blank: at least one character that is not white space.
Question = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S")]


class AskRequest(_Scoped, Sampling):
    question: Question
    strategy: Strategy | None = Field(None, description="Prompt strategy (default: settings).")
    history: list[Turn] = Field(
        default_factory=list, max_length=20, description="Earlier turns, oldest first."
    )
    conversation_id: str | None = Field(
        None,
        description="A conversation from POST /conversations: its earlier turns are the "
        "history, and this question and its answer are added to it.",
    )
    stream: StrictBool = Field(False, description="Answer as Server-Sent Events: token..., answer.")
    stages: StrictBool = Field(
        False,
        description="With stream: `stage` events ({stage, message}) as each step starts, for a "
        "status line. The stream then starts before retrieval, so a failure after the request "
        "is checked (the index or the model away) is an `error` event, not an HTTP error.",
    )

    def sampling(self) -> Sampling:
        return Sampling.model_validate(self.model_dump(include=set(Sampling.model_fields)))


class SearchRequest(_Scoped):
    query: Question
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    rerank: StrictBool = True


class SearchResponse(BaseModel):
    hits: list[Hit]
    timings: dict[str, float]
    notes: list[str] = Field(description="How the query was routed, e.g. dense search skipped.")


class TokenEvent(BaseModel):
    text: str


class DocumentList(BaseModel):
    documents: list[Document]


class JobList(BaseModel):
    jobs: list[Job]


class CollectionInfo(BaseModel):
    name: str
    documents: int
    chunks: int


class CollectionList(BaseModel):
    collections: list[CollectionInfo]
    default: str


class CollectionDeleted(BaseModel):
    name: str
    documents: list[Document]


class Health(BaseModel):
    status: Literal["ready", "starting", "unavailable"]
    index: bool
    model: bool
    state: bool = Field(
        True, description="Conversations, jobs and keys can be read and written (PostgreSQL)."
    )
    model_name: str
    error: str | None = None
