"""The CREATE and MAINTAIN jobs: generate buying groups for an audience, and re-apply a
template's rules to existing groups. Both work in chunks, each chunk one transaction that also
settles the chunk's groups (both scores, entry rules), so a job killed half-way and run again
ends with exactly one group per account, each scored."""

from __future__ import annotations

import logging
from uuid import UUID

from arq.connections import ArqRedis

from jobs.run import JobFailed, JobRun
from service.events.changes import Event, EventKind, record, stage_global_id
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
from service.usecases import groups

log = logging.getLogger(__name__)

CHUNK = 1000
MEMBER_CHANGES = {"ASSIGNED": EventKind.MEMBER_ASSIGNED, "REMOVED": EventKind.MEMBER_REMOVED}


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
    await run.progress(total=total, processed=0)
    processed, after = 0, None
    while True:
        async with run.db.tenant(tenant_id) as conn:
            params = SqlParams()
            chunk = await generation_store.create_groups_chunk(
                conn, tenant_id, solution_interest_id=interest.id,
                solution_interest_name=interest.name, role_template_id=template.id,
                entries=template.entries,
                audience_sql=list_store.membership_sql(audience, params), params=params,
                after=after, limit=CHUNK, job_id=run.job.id,
                entry_stage_id=entry_stage.id if entry_stage else None,
            )
            settled = await groups.settle(conn, tenant_id, chunk.changed, created=True,
                                          inputs=inputs)
            # Exact even after a restart: every group this job created carries its id.
            created = await group_store.count_created_by_job(conn, tenant_id, run.job.id)
            await record(conn, tenant_id, [
                *(Event.of(EventKind.CREATED, tenant_id, group_id,
                           solution_interest_id=interest.id,
                           new_value=stage_global_id(entry_stage.id) if entry_stage else None)
                  for group_id in chunk.changed),
                *settled])
        if chunk.processed == 0:
            break
        processed += chunk.processed
        after = chunk.last_id
        await run.progress(processed=processed, total=max(total, processed), created=created)


async def maintain_buying_groups(run: JobRun) -> None:
    """Safe to run again: it moves every group towards what the rules say, so a chunk done
    twice changes nothing the second time."""
    tenant_id = run.job.tenant_id
    interest_id = UUID(run.job.payload["solution_interest_id"])
    _, template = await _interest_and_template(run, interest_id)
    async with run.db.tenant(tenant_id, readonly=True) as conn:
        total = await generation_store.count_groups(conn, tenant_id, interest_id)
        inputs = await engagement_store.scoring_inputs(conn, tenant_id)
    await run.progress(total=total, processed=0, updated=0)
    processed, updated, after = 0, 0, None
    while True:
        async with run.db.tenant(tenant_id) as conn:
            chunk = await generation_store.maintain_groups_chunk(
                conn, tenant_id, solution_interest_id=interest_id, entries=template.entries,
                after=after, limit=CHUNK,
            )
            settled = await groups.settle(conn, tenant_id, chunk.changed, inputs=inputs)
            await record(conn, tenant_id, [
                *(Event.of(MEMBER_CHANGES[change], tenant_id, group,
                           solution_interest_id=interest_id, person_id=person, role_id=role)
                  for group, person, role, change in chunk.member_changes),
                *settled])
        if chunk.processed == 0:
            break
        processed += chunk.processed
        updated += len(chunk.changed)
        after = chunk.last_id
        await run.progress(processed=processed, total=max(total, processed), updated=updated)


async def schedule_maintenance(db: Database, redis: ArqRedis, queue_name: str) -> int:
    """The daily run: a MAINTAIN job for every solution interest that asks for one, unless one
    is already waiting or running. Returns how many were queued."""
    async with db.system() as conn:
        due = await job_store.interests_due_for_maintenance(conn)
    queued = 0
    for tenant_id, interest_id in due:
        async with db.tenant(tenant_id) as conn:
            job, new = await job_store.create_job_once(
                conn, tenant_id, JobKind.MAINTAIN,
                {"solution_interest_id": str(interest_id)}, solution_interest_id=interest_id,
                dedup_key=str(interest_id))
        if new and await enqueue(redis, queue_name, job.id):
            queued += 1
    if queued:
        log.info("queued %d maintenance job(s)", queued)
    return queued
