"""/documents: upload (as background jobs), list, show, delete; the original file and its
pages as images, to check an answer against."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Path, Query, Response, UploadFile, status

from api.deps import Jobs, Reader, Service, Writer
from api.errors import ERROR_RESPONSES, PayloadTooLarge
from api.schemas import DocumentList, JobList
from core.files import (
    DOCUMENT_TYPES_TEXT,
    PAGE_WIDTH_DEFAULT,
    PAGE_WIDTH_MAX,
    PAGE_WIDTH_MIN,
)
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


@router.get(
    "/{document_id}/file",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
def get_original(
    document_id: str, service: Service, caller: Reader, collection: CollectionParam = None
) -> Response:
    """The file as it was uploaded, with its content type and name. 404 for a document
    indexed before kbqa kept originals."""
    (name,) = caller.allow([service.collection_or_default(collection)])
    document, original, data = service.original(document_id, name)
    return Response(
        data,
        media_type=original.content_type,
        headers={
            "Content-Disposition": attachment(document.filename),
            # Never rendered as the API's own page: an uploaded web page could run script.
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/{document_id}/pages/{page}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The page as a PNG."}},
)
def get_page_image(
    document_id: str,
    page: Annotated[int, Path(ge=1, description="1-based page number.")],
    service: Service,
    caller: Reader,
    width: Annotated[
        int,
        Query(ge=PAGE_WIDTH_MIN, le=PAGE_WIDTH_MAX, description="Width in pixels."),
    ] = PAGE_WIDTH_DEFAULT,
    collection: CollectionParam = None,
) -> Response:
    """A page of a PDF as a PNG, scanned pages too: what a citation's ``boxes`` are drawn on
    (their fractions times the image's size)."""
    (name,) = caller.allow([service.collection_or_default(collection)])
    png = service.page_image(document_id, page, width, name)
    # A document's id is its content's hash: its pages never change.
    return Response(
        png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
    )


def attachment(filename: str) -> str:
    """A Content-Disposition that names the file, in ASCII and in UTF-8 (RFC 6266)."""
    plain = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
