"""Runs job rows: claims one, calls the handler of its kind, records how it ended.

The handler of each kind is in jobs/handlers.py; each receives a JobRun through which it reports
progress, which also renews the lease so the sweeper knows the job is alive. Between reports a
heartbeat renews it: one long statement (scoring every group of a large tenant) can outlast a
lease.

A failure another attempt may not meet (jobs/run.py, TRANSIENT) puts the job back in the queue
with a growing, jittered delay, up to JOB_MAX_ATTEMPTS; a worker that dies mid-job costs an
attempt too (its lease lapses and the next claim counts one). After the last attempt the job is
FAILED with the last error, and `gave_up` marks it dead. Every handler is safe to run again:
what an earlier attempt committed is found and kept, never done twice.

Which job runs next is fair between tenants (store.jobs.claim_next): the arq message that
wakes a worker names a job, but the worker takes the next job of the tenant served least
recently, and goes on taking jobs until none may start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from jobs.handlers import HANDLERS
from jobs.run import JobCancelled, JobFailed, JobRun, is_transient, retry_delay
from service.events.changes import publish_job
from service.infra import tracing
from service.infra.config import Settings
from service.infra.db import Database
from service.infra.queue import enqueue_wakeup
from service.store import jobs as job_store
from service.store.jobs import Job, JobStatus

log = logging.getLogger(__name__)


async def heartbeat(run: JobRun) -> None:
    """Renew the lease every third of it while the handler works, until the job stops being
    this attempt's (cancelled, or taken over): the handler learns that at its next report."""
    while True:
        await asyncio.sleep(run.lease_seconds / 3)
        try:
            async with run.db.system() as conn:
                job = await job_store.record_progress(conn, run.job.id, run.lease_seconds,
                                                      attempt=run.attempt)
        except Exception:  # a passing database error: the next beat tries again
            log.warning("job %s: could not renew its lease", run.job.id, exc_info=True)
            continue
        if job is None:
            return


def _message(error: BaseException) -> str:
    """What went wrong, for people: a group of errors (tasks side by side) by its first."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error) or type(error).__name__
    return text[:500]


async def _run_claimed(db: Database, job: Job, lease_seconds: int, settings: Settings,
                       redis: Any) -> JobStatus:
    """The attempt, in a trace of its own when tracing is on."""
    with tracing.tracer().start_as_current_span(f"job {job.kind}", attributes={
            "job.id": str(job.id), "job.kind": str(job.kind), "job.attempt": job.attempts,
            "tenant.id": str(job.tenant_id)}) as span:
        status = await _attempt(db, job, lease_seconds, settings, redis)
        span.set_attribute("job.status", str(status))
        return status


async def _attempt(db: Database, job: Job, lease_seconds: int, settings: Settings,
                   redis: Any) -> JobStatus:
    run = JobRun(db, job, lease_seconds, settings, redis)
    await publish_job(redis, job.tenant_id, job.id)
    fn = HANDLERS.get(job.kind)
    beat = asyncio.create_task(heartbeat(run))
    status, error, gave_up = JobStatus.SUCCEEDED, None, False
    try:
        if fn is None:
            raise JobFailed(f"no handler for job kind {job.kind}")
        await fn(run)
    except JobCancelled:
        return JobStatus.CANCELLED
    except JobFailed as exc:
        status, error = JobStatus.FAILED, str(exc)
    except Exception as exc:
        if not is_transient(exc):
            log.exception("job %s (%s) failed", job.id, job.kind)
            status, error = JobStatus.FAILED, "internal error; see the worker log"
        elif run.attempt < settings.job_max_attempts:
            return await _retry_later(run, exc)
        else:
            log.warning("job %s (%s) gave up after %d attempts: %s", job.id, job.kind,
                        run.attempt, exc)
            status, gave_up = JobStatus.FAILED, True
            error = f"gave up after {run.attempt} attempts: {_message(exc)}"
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    async with db.system() as conn:
        await job_store.finish_job(conn, job.id, status, error, attempt=run.attempt,
                                   gave_up=gave_up)
    await publish_job(redis, job.tenant_id, job.id)
    log.info("job %s (%s) %s", job.id, job.kind, status)
    return status


async def _retry_later(run: JobRun, error: BaseException) -> JobStatus:
    settings, job = run.settings, run.job
    delay = retry_delay(run.attempt, settings.job_retry_base_seconds,
                        settings.job_retry_max_seconds)
    log.warning("job %s (%s) attempt %d failed (%s); again in %.1f s", job.id, job.kind,
                run.attempt, _message(error), delay)
    async with run.db.system() as conn:
        await job_store.retry_later(conn, job.id, run.attempt, delay, _message(error))
    if run.redis is not None:
        with contextlib.suppress(Exception):  # else the sweeper wakes a worker for it
            await enqueue_wakeup(run.redis, settings.queue_name, job.id, run.attempt, delay)
    await publish_job(run.redis, job.tenant_id, job.id)
    return JobStatus.QUEUED


async def run_job(
    db: Database, job_id: UUID, lease_seconds: int, settings: Settings | None = None,
    redis: Any = None,
) -> JobStatus | None:
    """Run this job if it may start now; its status after the attempt (QUEUED: it will be
    retried), or None if it could not be claimed."""
    settings = settings or Settings()
    async with db.system() as conn:
        job = await job_store.claim_job(conn, job_id, lease_seconds, settings.job_max_attempts)
    if job is None:
        return None  # finished, cancelled, not due, or running elsewhere under a live lease
    return await _run_claimed(db, job, lease_seconds, settings, redis)


async def run_next(db: Database, settings: Settings, redis: Any = None) -> JobStatus | None:
    """Claim the next job fairly (see store.jobs.claim_next) and run it; None when no job may
    start now."""
    async with db.system() as conn:
        job = await job_store.claim_next(conn, settings.job_lease_seconds,
                                         settings.job_max_attempts, settings.jobs_per_tenant)
    if job is None:
        return None
    return await _run_claimed(db, job, settings.job_lease_seconds, settings, redis)


async def run_available(db: Database, settings: Settings, redis: Any = None) -> int:
    """Run jobs one after another until none may start now; how many ran."""
    ran = 0
    while await run_next(db, settings, redis) is not None:
        ran += 1
    return ran
