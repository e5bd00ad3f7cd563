"""What a job handler works with: the JobRun through which it reports progress (which also
renews its lease), and the two ways it can end a job early."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from service.config import Settings
from service.db import Database
from service.events import publish_job
from service.store import jobs as job_store
from service.store.jobs import Job


class JobCancelled(Exception):
    """The job row stopped being RUNNING (cancelled or deleted) while the handler worked."""


class JobFailed(Exception):
    """A handler's way to end a job as FAILED with a message meant for the user."""


@dataclass
class JobRun:
    db: Database
    job: Job
    lease_seconds: int
    settings: Settings = field(default_factory=Settings)
    redis: Any = None  # for change events; None in tests that run a handler bare

    def __post_init__(self) -> None:
        # Fencing: if the lease lapses and another attempt claims the job, this one stops.
        self.attempt = self.job.attempts

    async def progress(
        self,
        *,
        total: int | None = None,
        processed: int | None = None,
        created: int | None = None,
        updated: int | None = None,
    ) -> None:
        async with self.db.system() as conn:
            job = await job_store.record_progress(
                conn,
                self.job.id,
                self.lease_seconds,
                total=total,
                processed=processed,
                created=created,
                updated=updated,
                attempt=self.attempt,
            )
        if job is None:
            raise JobCancelled(str(self.job.id))
        self.job = job
        await publish_job(self.redis, job.tenant_id, job.id)


Handler = Callable[[JobRun], Awaitable[None]]
