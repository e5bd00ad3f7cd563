"""The CREATE and MAINTAIN jobs: generate buying groups for an audience, and re-apply a
template's rules to existing groups. Both work in chunks, each chunk one transaction that also
settles the chunk's groups (both scores, entry rules), so a job killed half-way and run again
ends with exactly one group per account, each scored."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from uuid import UUID

from arq.connections import ArqRedis

from jobs.run import JobFailed, JobRun
from service.infra.db import Database
from service.infra.queue import enqueue
from service.store import account_lists as list_store
from service.store import buying_groups as group_store
from service.store import engagement as engagement_store
from service.store import group_generation as generation_store
from service.store import jobs as job_store
from service.store import role_templates as template_store
from service.store import solution_interests as interest_store
from service.store import stages as stage_store
from service.store.jobs import JobKind
from service.store.sql import SqlParams
from service.usecases import generation, stage_placement
from service.usecases.unit_of_work import SYSTEM, UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

CHUNK = 1000


async def _interest_and_template(
    run: JobRun, interest_id: UUID
) -> tuple[interest_store.SolutionInterest, template_store.RoleTemplate]:
    async with run.db.tenant(run.job.tenant_id, readonly=True) as conn:
        interest = (await interest_store.interests_by_ids(conn, [interest_id])).get(interest_id)
        if interest is None:
            raise JobFailed("the solution interest no longer exists")
        template = await template_store.get_template(conn, interest.role_template_id)
    assert template is not None  # a template in use cannot be deleted
    return interest, template


async def _statistics_kept_up(run: JobRun, groups: int, members: int) -> None:
    async with run.work() as work:
        if await generation.statistics_kept_up(work, groups, members):
            log.info("planner statistics of groups and members refreshed after job %s",
                     run.job.id)


async def create_buying_groups(run: JobRun) -> None:
    """Safe to run again: a group per (account, solution interest) is a database constraint,
    chunks commit one by one, and another attempt creates (and scores) only what is missing."""
    tenant_id = run.job.tenant_id
    interest_id = UUID(run.job.payload["solution_interest_id"])
    list_id = UUID(run.job.payload["account_list_id"])
    interest, template = await _interest_and_template(run, interest_id)
    async with run.db.tenant(tenant_id, readonly=True) as conn:
        entry_stage = None
        if interest.stage_model_id is not None:
            model = (await stage_store.models_by_ids(conn, [interest.stage_model_id])).get(
                interest.stage_model_id)
            entry_stage = model.entry_stage() if model else None
        audience = (await list_store.lists_by_ids(conn, [list_id])).get(list_id)
        if audience is None:
            raise JobFailed("the account list no longer exists")
        params = SqlParams()
        total = await generation_store.count_audience(
            conn, tenant_id, list_store.membership_sql(audience, params), params)
        inputs = await engagement_store.scoring_inputs(conn, tenant_id)
        # Counted once (an earlier attempt's groups included), then chunk by chunk: counting
        # again after every chunk read all the job's groups each time, a pass that grows with
        # the square of the audience.
        created = await group_store.count_created_by_job(conn, tenant_id, run.job.id)
    await run.progress(total=total, processed=0)
    processed, assigned, after = 0, 0, None
    while True:
        async with run.work() as work:
            chunk = await generation.create_chunk(
                work, interest, template, audience, after=after, limit=CHUNK,
                entry_stage_id=entry_stage.id if entry_stage else None, job_id=run.job.id,
                inputs=inputs)
        if chunk.processed == 0:
            break
        created += len(chunk.changed)
        assigned += chunk.assigned
        processed += chunk.processed
        after = chunk.last_id
        await run.progress(processed=processed, total=max(total, processed), created=created)
    await _statistics_kept_up(run, created, assigned)


Step = Callable[[UnitOfWork, UUID | None], Awaitable[tuple[int, int, UUID | None]]]


async def _chunk_by_chunk(run: JobRun, total: int, step: Step) -> None:
    """Run `step` over the groups a chunk at a time, each in a unit of work of its own, until
    it finds none after the last; a step says how many it looked at, how many it changed and
    where the next starts. Progress is reported after each."""
    await run.progress(total=total, processed=0, updated=0)
    processed, updated, after = 0, 0, None
    while True:
        async with run.work() as work:
            looked_at, changed, last = await step(work, after)
        if looked_at == 0:
            return
        processed += looked_at
        updated += changed
        after = last
        await run.progress(processed=processed, total=max(total, processed), updated=updated)


async def maintain_buying_groups(run: JobRun) -> None:
    """Safe to run again: it moves every group towards what the rules say, so a chunk done
    twice changes nothing the second time."""
    tenant_id = run.job.tenant_id
    interest_id = UUID(run.job.payload["solution_interest_id"])
    _, template = await _interest_and_template(run, interest_id)
    async with run.db.tenant(tenant_id, readonly=True) as conn:
        total = await generation_store.count_groups(conn, tenant_id, interest_id)
        inputs = await engagement_store.scoring_inputs(conn, tenant_id)

    members = 0

    async def step(work: UnitOfWork, after: UUID | None) -> tuple[int, int, UUID | None]:
        nonlocal members
        chunk = await generation.maintain_chunk(work, interest_id, template, after=after,
                                                limit=CHUNK, inputs=inputs)
        members += len(chunk.member_changes)
        return chunk.processed, len(chunk.changed), chunk.last_id

    await _chunk_by_chunk(run, total, step)
    await _statistics_kept_up(run, 0, members)


async def schedule_maintenance(db: Database, redis: ArqRedis, queue_name: str) -> int:
    """The daily run: a MAINTAIN job for every solution interest that asks for one, unless one
    is already waiting or running. Returns how many were queued."""
    async with db.system() as conn:
        due = await job_store.interests_due_for_maintenance(conn)
    queued = 0
    for tenant_id, interest_id in due:
        async with unit_of_work(db, tenant_id, SYSTEM,
                                enqueue=partial(enqueue, redis, queue_name)) as work:
            _, new = await work.start_job(
                JobKind.MAINTAIN, {"solution_interest_id": str(interest_id)},
                solution_interest_id=interest_id, dedup_key=str(interest_id))
        queued += new
    if queued:
        log.info("queued %d maintenance job(s)", queued)
    return queued


async def apply_stage_model(run: JobRun) -> None:
    """Put the solution interest's groups in the stages of its model as it is now (or out of
    any stage, when it has none). Safe to run again: a group in a stage of the model is left
    where it is, so a chunk done twice changes nothing the second time; each chunk reads the
    model anew, so of two such jobs the one that runs last leaves the groups as the interest's
    model is now."""
    tenant_id = run.job.tenant_id
    interest_id = UUID(run.job.payload["solution_interest_id"])
    async with run.db.tenant(tenant_id, readonly=True) as conn:
        total = await generation_store.count_groups(conn, tenant_id, interest_id)

    async def step(work: UnitOfWork, after: UUID | None) -> tuple[int, int, UUID | None]:
        chunk = await stage_placement.restage_chunk(work, interest_id, after=after,
                                                    limit=CHUNK)
        return chunk.processed, len(chunk.moves), chunk.last_id

    await _chunk_by_chunk(run, total, step)
