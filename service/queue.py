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
