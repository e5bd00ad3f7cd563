"""What a job handler works with: the JobRun through which it reports progress (which also
renews its lease), and the two ways it can end a job early."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from redis.exceptions import RedisError

from service.events.changes import publish_job
from service.infra import outages
from service.infra.config import Settings
from service.infra.db import TRANSIENT_ERRORS, Database, PoolExhausted
from service.infra.queue import enqueue
from service.store import jobs as job_store
from service.store.jobs import Job
from service.usecases.unit_of_work import Actor, UnitOfWork, unit_of_work


class JobCancelled(Exception):
    """The job row stopped being RUNNING (cancelled or deleted) while the handler worked."""


class JobFailed(Exception):
    """A handler's way to end a job as FAILED with a message meant for the user: a permanent
    problem (refused credentials, a spent quota, data that no longer exists)."""


class JobRetry(Exception):
    """A handler's way to say the attempt failed for a passing reason (the source did not
    answer): the job is tried again later, up to JOB_MAX_ATTEMPTS, with the message kept."""


# Failures that another attempt may not meet: the database or Redis briefly away, a conflict
# PostgreSQL resolves by aborting one side, a timeout. Anything else is a bug or a permanent
# problem: retrying it would only repeat it.
TRANSIENT: tuple[type[BaseException], ...] = (
    JobRetry, OSError,  # ConnectionError, TimeoutError and a name that did not resolve
    asyncpg.PostgresConnectionError, asyncpg.InterfaceError, *TRANSIENT_ERRORS,
    asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError, PoolExhausted, RedisError,
)


def is_transient(error: BaseException) -> bool:
    """Worth another attempt; a group of errors (side-by-side tasks) when all of them are."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_transient(e) for e in error.exceptions)
    # outages.away also knows asyncpg's InternalClientError of a connection cut mid-statement.
    return isinstance(error, TRANSIENT) or outages.away(error) is not None


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before attempt `attempt + 1`: exponential from `base`, capped, with jitter (a
    random half of it) so that jobs that failed together do not return together."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


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

    def work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work of this job's tenant, in the job's name: every write of a handler
        goes through one (its events recorded with it, the jobs it starts queued after)."""
        return unit_of_work(self.db, self.job.tenant_id, Actor.job(self.job.id),
                            enqueue=self._enqueue)

    async def _enqueue(self, job_id: UUID) -> None:
        if self.redis is not None:
            await enqueue(self.redis, self.settings.queue_name, job_id)

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
