"""The one door for writes: who made a change is recorded with it, events are recorded only
with a change that commits, and jobs are queued only after their change commits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from service.infra.config import Settings
from service.infra.db import Database
from service.store import roles as role_store
from service.store.jobs import JobKind
from service.usecases.unit_of_work import CLI, Actor, unit_of_work
from tests.support import (
    REMOVE,
    GraphQLClient,
    TenantKeys,
    one_generated_group,
    run_jobs,
)

REFRESH = "mutation { refreshScores(input: {}) { job { id } userErrors { code } } }"


async def key_id(db: Database, tenant: TenantKeys, name: str) -> UUID:
    async with db.as_login() as conn:
        found: UUID = await conn.fetchval(
            "SELECT id FROM api_keys WHERE tenant_id = $1 AND name = $2", tenant.id, name)
    return found


async def actors(db: Database, tenant: TenantKeys) -> dict[str, set[str | None]]:
    async with db.as_login() as conn:
        events = await conn.fetch("SELECT kind, actor FROM events WHERE tenant_id = $1",
                                  tenant.id)
        jobs = await conn.fetch("SELECT kind, created_by FROM jobs WHERE tenant_id = $1",
                                tenant.id)
    seen: dict[str, set[str | None]] = {}
    for row in events:
        seen.setdefault(row["kind"], set()).add(row["actor"])
    for row in jobs:
        seen.setdefault(f"job {row['kind']}", set()).add(row["created_by"])
    return seen


async def test_every_change_records_who_made_it(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat, group = await one_generated_group(gql, settings, tenant)
    await gql.data(REMOVE, {"group": group, "person": cat["people"]["A0-vp"]}, key=tenant.write)
    await gql.data(REFRESH, key=tenant.write)
    await run_jobs(settings)
    writer = f"api_key.{await key_id(db, tenant, 'WRITE key')}"
    seen = await actors(db, tenant)
    assert seen["MEMBER_REMOVED"] == {writer}
    assert seen["job CREATE"] == seen["job REFRESH_SCORES"] == {writer}
    # The groups the CREATE job made are the job's doing.
    async with db.as_login() as conn:
        create_job = await conn.fetchval(
            "SELECT id FROM jobs WHERE tenant_id = $1 AND kind = 'CREATE'", tenant.id)
    assert seen["CREATED"] == {f"job.{create_job}"}


async def test_discarded_work_leaves_no_row_no_event_and_queues_no_job(
    db: Database, tenant: TenantKeys
) -> None:
    queued: list[UUID] = []

    async def enqueue(job_id: UUID) -> None:
        queued.append(job_id)

    async with unit_of_work(db, tenant.id, CLI, enqueue=enqueue) as work:
        await role_store.create_role(work.conn, tenant.id, "Kept", None)
        await work.start_job(JobKind.REFRESH_SCORES)
    assert len(queued) == 1
    async with unit_of_work(db, tenant.id, CLI, enqueue=enqueue) as work:
        await role_store.create_role(work.conn, tenant.id, "Discarded", None)
        await work.start_job(JobKind.SYNC_ACTIVITIES)
        work.discard()
    with pytest.raises(RuntimeError):
        async with unit_of_work(db, tenant.id, CLI, enqueue=enqueue) as work:
            await role_store.create_role(work.conn, tenant.id, "Failed", None)
            await work.start_job(JobKind.SYNC_ACTIVITIES)
            raise RuntimeError("the use case failed")
    assert len(queued) == 1
    async with db.as_login() as conn:
        names = {r["name"] for r in await conn.fetch(
            "SELECT name FROM roles WHERE tenant_id = $1", tenant.id)}
        kinds = [r["kind"] for r in await conn.fetch(
            "SELECT kind, created_by FROM jobs WHERE tenant_id = $1", tenant.id)]
        cli = await conn.fetchval("SELECT created_by FROM jobs WHERE tenant_id = $1",
                                  tenant.id)
    assert "Kept" in names and not names & {"Discarded", "Failed"}
    assert kinds == ["REFRESH_SCORES"] and cli == "cli"


def test_an_actor_is_a_plain_label() -> None:
    key = UUID(int=7)
    assert Actor.api_key(key).label == f"api_key.{key}"
    assert Actor.job(key).label == f"job.{key}"
    assert CLI.label == "cli"


async def test_a_job_queued_only_after_its_change_commits(db: Database, tenant: TenantKeys
                                                          ) -> None:
    seen_committed: list[Any] = []

    async def enqueue(job_id: UUID) -> None:
        async with db.as_login() as conn:  # another connection: sees only what committed
            seen_committed.append(await conn.fetchval("SELECT status FROM jobs WHERE id = $1",
                                                      job_id))

    async with unit_of_work(db, tenant.id, CLI, enqueue=enqueue) as work:
        await work.start_job(JobKind.REFRESH_SCORES)
    assert seen_committed == ["QUEUED"]
