"""Jobs: PostgreSQL rows are the truth; arq carries ids; the sweeper recovers what Redis lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job as ArqJob
from arq.jobs import JobStatus as ArqStatus

from jobs import runner
from jobs.handlers import HANDLERS
from jobs.run import JobCancelled, JobFailed, JobRun
from jobs.sweeper import sweep
from service.infra.config import Settings
from service.infra.db import Database
from service.infra.queue import enqueue
from service.store.jobs import Job, JobStatus, create_job, get_job
from tests.support import TenantKeys, run_jobs

TEST_KIND = "TEST_PROBE"


@pytest.fixture
def probe_handler(monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    """A job kind for these tests, which records the jobs it ran and reports progress."""
    ran: list[UUID] = []

    async def probe(run: JobRun) -> None:
        await run.progress(total=4, processed=4, created=2)
        ran.append(run.job.id)

    monkeypatch.setitem(HANDLERS, TEST_KIND, probe)
    return ran


async def new_job(db: Database, tenant: TenantKeys, kind: Any = TEST_KIND) -> Job:
    """`kind` may be a kind no JobKind names: the runner must refuse it."""
    async with db.tenant(tenant.id) as conn:
        return await create_job(conn, tenant.id, kind)


async def job_row(db: Database, job_id: UUID) -> Job:
    async with db.as_login() as conn:
        job = await get_job(conn, job_id)
    assert job is not None
    return job


run_worker_until_idle = run_jobs


async def arq_status(redis: ArqRedis, settings: Settings, job_id: UUID) -> ArqStatus:
    status: ArqStatus = await ArqJob(str(job_id), redis, _queue_name=settings.queue_name).status()
    return status


async def test_a_queued_job_runs_to_success_with_its_progress(
    db: Database, redis: ArqRedis, settings: Settings, tenant: TenantKeys,
    probe_handler: list[UUID],
) -> None:
    job = await new_job(db, tenant)
    assert await enqueue(redis, settings.queue_name, job.id)
    assert not await enqueue(redis, settings.queue_name, job.id), "same id queued twice"
    await run_worker_until_idle(settings)
    done = await job_row(db, job.id)
    assert probe_handler == [job.id]
    assert done.status is JobStatus.SUCCEEDED
    assert (done.progress_total, done.progress_processed, done.buying_groups_created) == (4, 4, 2)
    assert done.attempts == 1 and done.started_at and done.finished_at
    assert done.lease_expires_at is None


async def test_the_sweeper_requeues_a_job_lost_from_redis(
    db: Database, redis: ArqRedis, settings: Settings, tenant: TenantKeys,
    probe_handler: list[UUID],
) -> None:
    job = await new_job(db, tenant)
    # Never reached Redis (or Redis restarted since): only the row knows about it.
    async with db.as_login() as conn:
        await conn.execute(
            "UPDATE jobs SET created_at = now() - interval '10 minutes' WHERE id = $1", job.id
        )
    assert await arq_status(redis, settings, job.id) is ArqStatus.not_found
    assert await sweep(db, redis, settings.queue_name, queued_grace_seconds=60,
                   max_attempts=settings.job_max_attempts) >= 1
    assert await arq_status(redis, settings, job.id) is ArqStatus.queued
    await run_worker_until_idle(settings)
    assert (await job_row(db, job.id)).status is JobStatus.SUCCEEDED
    assert probe_handler == [job.id]


async def test_a_job_whose_worker_died_is_run_again(
    db: Database, redis: ArqRedis, settings: Settings, tenant: TenantKeys,
    probe_handler: list[UUID],
) -> None:
    job = await new_job(db, tenant)
    async with db.system() as conn:  # a worker claimed it, then vanished with its lease running out
        await conn.execute(
            """UPDATE jobs SET status = 'RUNNING', attempts = 1, started_at = now(),
                   lease_expires_at = now() - interval '1 second' WHERE id = $1""",
            job.id,
        )
    await sweep(db, redis, settings.queue_name, queued_grace_seconds=60,
                   max_attempts=settings.job_max_attempts)
    await run_worker_until_idle(settings)
    done = await job_row(db, job.id)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 2


async def test_a_job_with_a_live_lease_is_left_alone(
    db: Database, redis: ArqRedis, settings: Settings, tenant: TenantKeys,
    probe_handler: list[UUID],
) -> None:
    job = await new_job(db, tenant)
    async with db.as_login() as conn:
        await conn.execute(
            """UPDATE jobs SET status = 'RUNNING', lease_expires_at = now() + interval '1 hour',
                   created_at = now() - interval '1 hour' WHERE id = $1""",
            job.id,
        )
    await sweep(db, redis, settings.queue_name, queued_grace_seconds=60,
                   max_attempts=settings.job_max_attempts)
    assert await arq_status(redis, settings, job.id) is ArqStatus.not_found
    # A worker handed the id anyway does not run it twice.
    assert await runner.run_job(db, job.id, lease_seconds=60) is None
    assert probe_handler == []


@pytest.mark.parametrize(
    ("make_handler", "expected_error"),
    [
        (None, "no handler for job kind TEST_PROBE"),
        (lambda: _raising(JobFailed("the audience is empty")), "the audience is empty"),
        (lambda: _raising(ZeroDivisionError("boom")), "internal error; see the worker log"),
    ],
)
async def test_a_failing_job_ends_failed_with_a_readable_error(
    db: Database, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch,
    make_handler: Callable[[], Callable[[JobRun], Awaitable[None]]] | None,
    expected_error: str,
) -> None:
    if make_handler is None:
        monkeypatch.delitem(HANDLERS, TEST_KIND, raising=False)
    else:
        monkeypatch.setitem(HANDLERS, TEST_KIND, make_handler())
    job = await new_job(db, tenant)
    assert await runner.run_job(db, job.id, lease_seconds=60) is JobStatus.FAILED
    failed = await job_row(db, job.id)
    assert failed.status is JobStatus.FAILED and failed.error == expected_error


def _raising(exc: Exception) -> Callable[[JobRun], Awaitable[None]]:
    async def handler(run: JobRun) -> None:
        raise exc

    return handler


async def test_a_job_cancelled_while_running_stops_at_its_next_progress_report(
    db: Database, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await new_job(db, tenant)

    async def cancelled_midway(run: JobRun) -> None:
        async with db.as_login() as conn:
            await conn.execute("UPDATE jobs SET status = 'CANCELLED' WHERE id = $1", run.job.id)
        await run.progress(processed=1)
        raise AssertionError("progress() should have stopped the handler")

    monkeypatch.setitem(HANDLERS, TEST_KIND, cancelled_midway)
    assert await runner.run_job(db, job.id, lease_seconds=60) is JobStatus.CANCELLED
    assert (await job_row(db, job.id)).status is JobStatus.CANCELLED


async def test_a_worker_that_lost_its_lease_cannot_touch_the_job_again(
    db: Database, tenant: TenantKeys, probe_handler: list[UUID], settings: Settings
) -> None:
    from service.store.jobs import claim_job

    job = await new_job(db, tenant)
    async with db.as_login() as conn:
        first = await claim_job(conn, job.id, lease_seconds=60,
                                max_attempts=settings.job_max_attempts)
        assert first is not None
        await conn.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
                           "WHERE id = $1", job.id)
    stale = JobRun(db, first, lease_seconds=60)  # the worker that hung
    assert await runner.run_job(db, job.id, lease_seconds=60) is JobStatus.SUCCEEDED
    with pytest.raises(JobCancelled):
        await stale.progress(processed=99)
    done = await job_row(db, job.id)
    assert done.attempts == 2 and done.progress_processed == 4


async def test_the_lease_is_renewed_while_a_handler_works_without_reporting(
    db: Database, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await new_job(db, tenant)
    seen = []

    async def one_long_statement(run: JobRun) -> None:
        for _ in range(4):  # 2 s in all, twice the lease, and no progress report
            async with db.as_login() as conn:
                await conn.execute("SELECT pg_sleep(0.5)")
                seen.append(await conn.fetchval(
                    "SELECT lease_expires_at > now() FROM jobs WHERE id = $1", job.id))

    monkeypatch.setitem(HANDLERS, TEST_KIND, one_long_statement)
    assert await runner.run_job(db, job.id, lease_seconds=1) is JobStatus.SUCCEEDED
    assert seen == [True] * 4


def test_every_job_kind_has_its_handler() -> None:
    from service.store.jobs import JobKind

    assert set(HANDLERS) == set(JobKind)


def test_stage_change_events_name_stages_by_their_global_id() -> None:
    import uuid

    from strawberry.relay import GlobalID

    from service.events.changes import EventKind, stage_changes

    group, old, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    [event] = stage_changes(uuid.uuid4(), [(group, old, new)])
    assert event.kind is EventKind.STAGE_CHANGED
    assert event.previous_value == str(GlobalID("Stage", str(old)))
    assert event.new_value == str(GlobalID("Stage", str(new)))
