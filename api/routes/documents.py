"""/documents: upload (as background jobs), list, show, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status

from api.deps import Jobs, ReadAccess, Service, WriteAccess
from api.errors import ERROR_RESPONSES, PayloadTooLarge
from api.schemas import DocumentList, JobList
from core.types import Document

router = APIRouter(prefix="/documents", tags=["documents"], responses=ERROR_RESPONSES)
CollectionParam = Annotated[
    str | None, Query(description="Collection (knowledge base); default from settings.")
]


@router.post("", status_code=status.HTTP_202_ACCEPTED, dependencies=[WriteAccess])
def upload(
    files: Annotated[list[UploadFile], File(description="PDF, text or Markdown files.")],
    service: Service,
    jobs: Jobs,
    collection: CollectionParam = None,
) -> JobList:
    """Queue files for ingestion; returns a job per file at once (poll ``/jobs/{id}``).

    Every file is checked first (size, type, a readable PDF): if one is bad, none is queued
    and the error names it.
    """
    name = service.collection_or_default(collection)
    limit = service.settings.api.max_upload_files
    if len(files) > limit:
        raise PayloadTooLarge(f"{len(files)} files in one upload, more than the limit of {limit}")
    checked = []
    for upload in files:
        data = upload.file.read()
        checked.append((service.ingestor.check(data, upload.filename or "unnamed"), data))
    return JobList(jobs=[jobs.submit(data, filename, name) for filename, data in checked])


@router.get("", dependencies=[ReadAccess])
def list_documents(
    service: Service,
    collection: Annotated[str | None, Query(description="Only this collection.")] = None,
) -> DocumentList:
    """Documents of one collection, or of all."""
    name = service.collection_or_default(collection) if collection else None
    return DocumentList(documents=service.index.documents(name))


@router.get("/{document_id}", dependencies=[ReadAccess])
def get_document(
    document_id: str, service: Service, collection: CollectionParam = None
) -> Document:
    return service.index.document(service.collection_or_default(collection), document_id)


@router.delete("/{document_id}", dependencies=[WriteAccess])
def delete_document(
    document_id: str, service: Service, collection: CollectionParam = None
) -> Document:
    """Remove a document and all its chunks, vectors and BM25 terms; returns what was removed."""
    return service.delete(document_id, collection)
