"""/documents: upload (as background jobs), list, show, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status

from api.deps import Jobs, Reader, Service, Writer
from api.errors import ERROR_RESPONSES, PayloadTooLarge
from api.schemas import DocumentList, JobList
from core.files import DOCUMENT_TYPES_TEXT
from core.types import COLLECTION_PATTERN, Document

router = APIRouter(prefix="/documents", tags=["documents"], responses=ERROR_RESPONSES)
CollectionParam = Annotated[
    str | None,
    Query(
        pattern=COLLECTION_PATTERN,
        description="Collection (knowledge base); default from settings.",
    ),
]


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def upload(
    files: Annotated[list[UploadFile], File(description=DOCUMENT_TYPES_TEXT)],
    service: Service,
    jobs: Jobs,
    caller: Writer,
    collection: CollectionParam = None,
) -> JobList:
    """Queue files for ingestion; returns a job per file at once (poll ``/jobs/{id}``).

    Every file is checked first (size, type, a readable PDF): if one is bad, none is queued
    and the error names it.
    """
    (name,) = caller.allow([service.collection_or_default(collection)])
    limit = service.settings.api.max_upload_files
    if len(files) > limit:
        raise PayloadTooLarge(f"{len(files)} files in one upload, more than the limit of {limit}")
    checked = []
    for upload in files:
        data = upload.file.read()
        checked.append((service.check_upload(data, upload.filename or "unnamed"), data))
    return JobList(jobs=[jobs.submit(data, filename, name) for filename, data in checked])


@router.get("")
def list_documents(
    service: Service,
    caller: Reader,
    collection: Annotated[
        str | None, Query(pattern=COLLECTION_PATTERN, description="Only this collection.")
    ] = None,
) -> DocumentList:
    """Documents of one collection, or of all."""
    if collection:
        (name,) = caller.allow([service.collection_or_default(collection)])
        return DocumentList(documents=service.documents(name))
    visible = set(caller.visible(service.collections()))
    return DocumentList(documents=[d for d in service.documents() if d.collection in visible])


@router.get("/{document_id}")
def get_document(
    document_id: str, service: Service, caller: Reader, collection: CollectionParam = None
) -> Document:
    (name,) = caller.allow([service.collection_or_default(collection)])
    return service.document(document_id, name)


@router.delete("/{document_id}")
def delete_document(
    document_id: str, service: Service, caller: Writer, collection: CollectionParam = None
) -> Document:
    """Remove a document and all its chunks, vectors and BM25 terms; returns what was removed."""
    (name,) = caller.allow([service.collection_or_default(collection)])
    return service.delete(document_id, name)
