"""/conversations: stored questions and answers, for follow-ups and for showing them again."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ReadAccess, Service
from api.errors import ERROR_RESPONSES
from core.types import TITLE_CHARS, Conversation, ConversationSummary

router = APIRouter(
    prefix="/conversations",
    tags=["conversations"],
    dependencies=[ReadAccess],
    responses=ERROR_RESPONSES,
)


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("", max_length=TITLE_CHARS, description="Default: the first question.")


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=TITLE_CHARS, pattern=r"\S")


class ConversationList(BaseModel):
    conversations: list[ConversationSummary]


@router.post("", status_code=status.HTTP_201_CREATED)
def create(service: Service, body: NewConversation | None = None) -> Conversation:
    """Start a conversation; pass its id to ``/ask`` as ``conversation_id``."""
    return service.new_conversation((body or NewConversation()).title)


@router.get("")
def recent(service: Service, limit: int = Query(50, ge=1, le=500)) -> ConversationList:
    """Conversations, the most recently active first."""
    return ConversationList(conversations=service.recent_conversations(limit))


@router.get("/{conversation_id}")
def get(conversation_id: str, service: Service) -> Conversation:
    """A conversation with every question and answer, citations included."""
    return service.conversation(conversation_id)


@router.patch("/{conversation_id}")
def rename(conversation_id: str, body: Rename, service: Service) -> ConversationSummary:
    """Give a conversation a title of its own."""
    return service.rename_conversation(conversation_id, body.title.strip())


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(conversation_id: str, service: Service) -> None:
    service.delete_conversation(conversation_id)
