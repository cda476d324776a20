"""/keys: API keys made at run time, valid on every node that shares the state."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminAccess, Service
from api.errors import ERROR_RESPONSES
from core.records import KEY_NAME_CHARS, ApiKey, NewApiKey
from core.types import CollectionName

router = APIRouter(
    prefix="/keys", tags=["keys"], dependencies=[AdminAccess], responses=ERROR_RESPONSES
)


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=KEY_NAME_CHARS, description="What it is for.")
    access: Literal["full", "read"] = Field(
        "read", description="'full': upload and delete too; 'read': ask, search and list."
    )
    collections: list[CollectionName] | None = Field(
        None, min_length=1, max_length=64, description="Only these collections; default: all."
    )


class KeyList(BaseModel):
    keys: list[ApiKey]


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: KeyRequest, service: Service) -> NewApiKey:
    """Make a key. The answer holds the key itself, shown this once: only its hash is kept."""
    return service.new_key(body.name, body.access == "full", body.collections)


@router.get("")
def list_keys(service: Service) -> KeyList:
    """Keys made here, revoked ones too, newest first (never the keys themselves)."""
    return KeyList(keys=service.keys())


@router.delete("/{key_id}")
def revoke(key_id: str, service: Service) -> ApiKey:
    """Revoke a key on every node at once; returns its record."""
    return service.revoke_key(key_id)
