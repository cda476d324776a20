"""/jobs: the state and progress of ingestion jobs."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Jobs, Language, Reader
from api.errors import ERROR_RESPONSES
from api.language import job_in
from api.schemas import JobList
from core.types import Job

router = APIRouter(prefix="/jobs", tags=["documents"], responses=ERROR_RESPONSES)


@router.get("")
def list_jobs(jobs: Jobs, caller: Reader, lang: Language) -> JobList:
    """Recent jobs, newest first; errors in the Accept-Language header's language."""
    return JobList(jobs=[job_in(j, lang) for j in jobs.list() if caller.visible([j.collection])])


@router.get("/{job_id}")
def get_job(job_id: str, jobs: Jobs, caller: Reader, lang: Language) -> Job:
    """State (queued, running, succeeded, failed), progress, the document or the error (in
    the Accept-Language header's language)."""
    job = jobs.get(job_id)
    caller.allow([job.collection])
    return job_in(job, lang)
