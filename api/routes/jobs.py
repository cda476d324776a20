"""/jobs: the state and progress of ingestion jobs."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Jobs, Reader
from api.errors import ERROR_RESPONSES
from api.schemas import JobList
from core.types import Job

router = APIRouter(prefix="/jobs", tags=["documents"], responses=ERROR_RESPONSES)


@router.get("")
def list_jobs(jobs: Jobs, caller: Reader) -> JobList:
    """Recent jobs, newest first."""
    return JobList(jobs=[j for j in jobs.list() if caller.visible([j.collection])])


@router.get("/{job_id}")
def get_job(job_id: str, jobs: Jobs, caller: Reader) -> Job:
    """State (queued, running, succeeded, failed), progress, the document or the error."""
    job = jobs.get(job_id)
    caller.allow([job.collection])
    return job
