"""/feedback: thumbs up or down on answers, kept with what was shown (``kbqa feedback export``
turns it into a question set for ``kbqa eval``)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ReadAccess, Service
from api.errors import ERROR_RESPONSES
from api.schemas import Question
from core.records import FEEDBACK_COMMENT_CHARS, Feedback, Rating
from core.types import BOXES_DESCRIPTION, Box, Citation

router = APIRouter(
    prefix="/feedback", tags=["feedback"], dependencies=[ReadAccess], responses=ERROR_RESPONSES
)
MAX_ANSWER_CHARS = 20_000


class BoxIn(Box):
    """A citation's box as sent back: strict too (a nested model keeps its own config)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CitationIn(Citation):
    """A citation as sent back: strict too (a nested model keeps its own config)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    # The same field, its items strict: what it holds is still a list of Box.
    boxes: list[BoxIn] = Field(  # type: ignore[assignment]
        default_factory=list, description=BOXES_DESCRIPTION
    )


class FeedbackRequest(BaseModel):
    # Strict, as every request body: a wrong type is refused, not guessed at.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)
    rating: Rating = Field(description="'up': a good answer; 'down': a bad one.")
    question: Question
    answer: str = Field(max_length=MAX_ANSWER_CHARS, description="The answer as shown.")
    citations: list[CitationIn] = Field(default_factory=list, max_length=50)
    comment: str = Field("", max_length=FEEDBACK_COMMENT_CHARS)
    conversation_id: str | None = Field(None, description="The conversation it was part of.")


class FeedbackList(BaseModel):
    feedback: list[Feedback]


@router.post("", status_code=status.HTTP_201_CREATED)
def give(body: FeedbackRequest, service: Service) -> Feedback:
    """Say whether an answer was good, with the question, the answer and its citations."""
    return service.add_feedback(
        body.rating, body.question, body.answer, body.citations, body.comment,
        body.conversation_id,
    )  # fmt: skip


@router.get("")
def recent(service: Service, limit: int = Query(100, ge=1, le=1000)) -> FeedbackList:
    """Feedback, the newest first."""
    return FeedbackList(feedback=service.feedback(limit))
