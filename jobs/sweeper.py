"""Re-enqueues jobs that no worker will otherwise run: lost from Redis, or whose worker died."""

from __future__ import annotations

import logging

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import Job as ArqJob
from arq.jobs import JobStatus as ArqStatus

from service.infra.db import Database
from service.infra.queue import deserialize, enqueue
from service.store import jobs as job_store
from service.store.jobs import Job, JobStatus

log = logging.getLogger(__name__)


async def sweep(db: Database, redis: ArqRedis, queue_name: str, queued_grace_seconds: int,
                max_attempts: int) -> int:
    """Fail the jobs whose worker died on their last attempt (no poison loops), then put back
    on the queue what no worker will otherwise run. Returns how many were re-enqueued."""
    async with db.system() as conn:
        dead = await job_store.give_up_lapsed(conn, max_attempts)
        stranded = await job_store.stranded_jobs(conn, queued_grace_seconds)
    for job in dead:
        log.warning("job %s (%s) gave up: %s", job.id, job.kind, job.error)
        # The dead worker's arq records would hold the message "in progress" for hours.
        await forget(redis, queue_name, str(job.id))
    requeued: list[Job] = []
    for job in stranded:
        state = await ArqJob(str(job.id), redis, _queue_name=queue_name,
                             _deserializer=deserialize).status()
        if state in (ArqStatus.queued, ArqStatus.deferred):
            continue  # arq will deliver it
        if state is ArqStatus.in_progress and job.status is not JobStatus.RUNNING:
            continue  # a worker has just taken it and not claimed the row yet
        # arq thinks it ran, or is running, yet the row's lease lapsed: the worker died (or
        # hangs; the lease fencing stops it when it wakes). Forget arq's records and retry.
        await forget(redis, queue_name, str(job.id))
        if await enqueue(redis, queue_name, job.id):
            requeued.append(job)
    if requeued:
        async with db.system() as conn:
            await job_store.mark_enqueued(conn, [job.id for job in requeued])
        log.warning("sweeper re-enqueued %d stranded job(s)", len(requeued))
    return len(requeued)


async def forget(redis: ArqRedis, queue_name: str, arq_job_id: str) -> None:
    """Drop arq's records of a message: its result, "in progress" mark, body and queue entry."""
    await redis.delete(f"{result_key_prefix}{arq_job_id}", f"{in_progress_key_prefix}{arq_job_id}",
                       f"{job_key_prefix}{arq_job_id}")
    await redis.zrem(queue_name, arq_job_id)
