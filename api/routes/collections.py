"""/collections: the knowledge bases. A collection is created by its first upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Reader, Service, Writer
from api.errors import ERROR_RESPONSES
from api.schemas import CollectionDeleted, CollectionInfo, CollectionList
from core.types import COLLECTION_PATTERN

router = APIRouter(prefix="/collections", tags=["collections"], responses=ERROR_RESPONSES)


@router.get("")
def list_collections(service: Service, caller: Reader) -> CollectionList:
    stats = {n: s for n, s in service.stats().items() if caller.visible([n])}
    infos = [CollectionInfo(name=n, documents=d, chunks=c) for n, (d, c) in stats.items()]
    return CollectionList(collections=infos, default=service.settings.collection)


@router.delete("/{name}")
def delete_collection(
    name: Annotated[str, Path(pattern=COLLECTION_PATTERN)], service: Service, caller: Writer
) -> CollectionDeleted:
    """Remove a collection with every document in it."""
    (checked,) = caller.allow([service.collection_or_default(name)])
    removed = service.delete_collection(checked)
    return CollectionDeleted(name=name, documents=removed)
