"""/jobs: the state and progress of ingestion jobs."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Jobs, ReadAccess
from api.errors import ERROR_RESPONSES
from api.schemas import JobList
from core.types import Job

router = APIRouter(
    prefix="/jobs", tags=["documents"], dependencies=[ReadAccess], responses=ERROR_RESPONSES
)


@router.get("")
def list_jobs(jobs: Jobs) -> JobList:
    """Recent jobs, newest first."""
    return JobList(jobs=jobs.list())


@router.get("/{job_id}")
def get_job(job_id: str, jobs: Jobs) -> Job:
    """State (queued, running, succeeded, failed), progress, the document or the error."""
    return jobs.get(job_id)
