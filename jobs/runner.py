"""Runs one job row: claims it, calls the handler of its kind, records how it ended.

The handler of each kind is in jobs/handlers.py; each receives a JobRun through which it reports
progress, which also renews the lease so the sweeper knows the job is alive. Between reports a
heartbeat renews it: one long statement (scoring every group of a large tenant) can outlast a
lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from jobs.handlers import HANDLERS
from jobs.run import JobCancelled, JobFailed, JobRun
from service.config import Settings
from service.db import Database
from service.events import publish_job
from service.store import jobs as job_store
from service.store.jobs import JobStatus

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


async def run_job(
    db: Database, job_id: UUID, lease_seconds: int, settings: Settings | None = None,
    redis: Any = None,
) -> JobStatus | None:
    """Run the job if it can be claimed; returns its final status, or None if not claimed."""
    async with db.system() as conn:
        job = await job_store.claim_job(conn, job_id, lease_seconds)
    if job is None:
        return None  # finished, cancelled, or running elsewhere under a live lease
    run = JobRun(db, job, lease_seconds, settings or Settings(), redis)
    await publish_job(redis, job.tenant_id, job.id)
    fn = HANDLERS.get(job.kind)
    status, error = JobStatus.SUCCEEDED, None
    beat = asyncio.create_task(heartbeat(run))
    try:
        if fn is None:
            raise JobFailed(f"no handler for job kind {job.kind}")
        await fn(run)
    except JobCancelled:
        return JobStatus.CANCELLED
    except JobFailed as exc:
        status, error = JobStatus.FAILED, str(exc)
    except Exception:
        log.exception("job %s (%s) failed", job.id, job.kind)
        status, error = JobStatus.FAILED, "internal error; see the worker log"
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    async with db.system() as conn:
        await job_store.finish_job(conn, job.id, status, error, attempt=run.attempt)
    await publish_job(redis, job.tenant_id, job.id)
    log.info("job %s (%s) %s", job.id, job.kind, status)
    return status
