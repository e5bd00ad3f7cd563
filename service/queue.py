"""Putting job ids on the arq queue. Jobs go by name, so the API never imports worker code."""

from __future__ import annotations

from uuid import UUID

from arq.connections import ArqRedis

RUN_JOB = "run_job"


async def enqueue(redis: ArqRedis, queue_name: str, job_id: UUID) -> bool:
    """Queue a job row for a worker; False when arq already holds that job id."""
    queued = await redis.enqueue_job(
        RUN_JOB, str(job_id), _job_id=str(job_id), _queue_name=queue_name
    )
    return queued is not None


async def enqueue_wakeup(redis: ArqRedis, queue_name: str, job_id: UUID, attempt: int,
                         delay_seconds: float) -> bool:
    """Wake a worker when a job's retry is due. Its own id would clash with the arq job still
    running it, so the message has one per attempt; whichever worker wakes claims fairly."""
    queued = await redis.enqueue_job(
        RUN_JOB, str(job_id), _job_id=f"{job_id}:retry:{attempt}", _queue_name=queue_name,
        _defer_by=delay_seconds)
    return queued is not None
