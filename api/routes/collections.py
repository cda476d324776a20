"""/collections: the knowledge bases. A collection is created by its first upload."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReadAccess, Service, WriteAccess
from api.errors import ERROR_RESPONSES
from api.schemas import CollectionDeleted, CollectionInfo, CollectionList

router = APIRouter(prefix="/collections", tags=["collections"], responses=ERROR_RESPONSES)


@router.get("", dependencies=[ReadAccess])
def list_collections(service: Service) -> CollectionList:
    stats = service.index.stats()
    infos = [CollectionInfo(name=n, documents=d, chunks=c) for n, (d, c) in stats.items()]
    return CollectionList(collections=infos, default=service.settings.collection)


@router.delete("/{name}", dependencies=[WriteAccess])
def delete_collection(name: str, service: Service) -> CollectionDeleted:
    """Remove a collection with every document in it."""
    removed = service.index.delete_collection(service.collection_or_default(name))
    return CollectionDeleted(name=name, documents=removed)
