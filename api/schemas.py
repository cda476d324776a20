"""Request and response bodies of the API (the shared types come from ``core.types``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.types import Document, Hit, Job, Sampling, Strategy, Turn

MAX_COLLECTIONS = 16


class _Request(BaseModel):
    # A misspelt field is an error the caller should hear about, not something to drop.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Scoped(_Request):
    collection: str | None = Field(None, description="One collection (knowledge base).")
    collections: list[str] | None = Field(
        None, max_length=MAX_COLLECTIONS, description="Several collections, searched together."
    )
    top_k: int | None = Field(None, ge=1, le=50, description="Chunks to retrieve.")

    def names(self) -> list[str] | None:
        names = [*(self.collections or []), *([self.collection] if self.collection else [])]
        return list(dict.fromkeys(names)) or None


class AskRequest(_Scoped, Sampling):
    question: str = Field(min_length=1, max_length=4000)
    strategy: Strategy | None = Field(None, description="Prompt strategy (default: settings).")
    history: list[Turn] = Field(
        default_factory=list, max_length=20, description="Earlier turns, oldest first."
    )
    conversation_id: str | None = Field(
        None,
        description="A conversation from POST /conversations: its earlier turns are the "
        "history, and this question and its answer are added to it.",
    )
    stream: bool = Field(False, description="Answer as Server-Sent Events: token..., answer.")

    def sampling(self) -> Sampling:
        return Sampling.model_validate(self.model_dump(include=set(Sampling.model_fields)))


class SearchRequest(_Scoped):
    query: str = Field(min_length=1, max_length=4000)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    rerank: bool = True


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
    model_name: str
    error: str | None = None
