"""Records of the shared state that are not answers or documents: API keys made at run time
and feedback on answers (stored by ``state``, shown by the API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.types import Citation

Rating = Literal["up", "down"]
FEEDBACK_COMMENT_CHARS = 2000
KEY_NAME_CHARS = 100


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiKey(_Record):
    """A key made through the API. Only its sha256 is stored; ``prefix`` tells keys apart."""

    id: str
    name: str = Field(description="What the key is for, as its maker said.")
    prefix: str = Field(description="The key's first characters, to recognise it by.")
    write: bool = Field(description="May upload and delete; false: may only read and ask.")
    collections: list[str] | None = Field(None, description="Only these collections; None: all.")
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    revoked_at: datetime | None = None


class NewApiKey(ApiKey):
    """A key just made: the secret is shown this once and never again."""

    key: str = Field(description="The bearer key. Stored hashed: keep it now.")


class Feedback(_Record):
    """A person's verdict on one answer, with what they were shown."""

    id: str
    rating: Rating
    question: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    comment: str = ""
    conversation_id: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
