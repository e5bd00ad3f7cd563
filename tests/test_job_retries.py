"""Jobs under failure: passing failures are retried with backoff, permanent ones fail at once,
a job that kills its worker is not run forever, and every kind can run twice."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx

from jobs import runner
from jobs.sweeper import sweep
from service.api.nodes import decode_id
from service.infra.config import Settings
from service.infra.db import Database
from service.store import jobs as job_store
from service.store.jobs import JobKind
from tests.support import (
    GraphQLClient,
    TenantKeys,
    generate,
    run_jobs,
    setup_catalogue,
    sim,
    source_with_visits,
    start_worker,
    sync,
)

REFRESH = """mutation { refreshScores(input: {}) {
  job { id } deduplicated userErrors { code } } }"""
STATE = """query($id: ID!) { node(id: $id) { ... on BuyingGroupJob {
  status attempts maxAttempts lastError error nextAttemptAt } } }"""


@asynccontextmanager
async def failing_writes(db: Database, times: int, *, sleep: float = 0) -> AsyncIterator[str]:
    """A trigger on the record of the nightly pass (written by every full rescoring, whatever
    moved): its first `times` rows fail as if the database
    connection broke (SQLSTATE 08006: transient, and not one a transaction retries inline);
    with `sleep`, each row first waits that long (a job that hangs)."""
    name = f"blip_{uuid.uuid4().hex[:8]}"
    async with db.as_login() as conn:
        await conn.execute(f"""
            CREATE SEQUENCE {name};
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_sleep({sleep});
                IF nextval('{name}') <= {times} THEN
                    RAISE EXCEPTION 'database blip' USING ERRCODE = '08006';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON engagement_passes
                FOR EACH ROW EXECUTE FUNCTION {name}();""")
    try:
        yield name
    finally:
        async with db.as_login() as conn:
            await conn.execute(f"DROP TRIGGER {name} ON engagement_passes; "
                               f"DROP FUNCTION {name}(); DROP SEQUENCE {name}")


async def state(gql: GraphQLClient, key: str, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql.data(STATE, {"id": job_id}, key=key))["node"]
    return found


async def test_a_passing_failure_is_retried_until_it_succeeds(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    async with failing_writes(db, times=2):
        job = (await gql.data(REFRESH, key=tenant.write))["refreshScores"]["job"]
        await run_jobs(settings)
    done = await state(gql, tenant.read, job["id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["attempts"] == 3 and done["maxAttempts"] == settings.job_max_attempts
    assert "database blip" in done["lastError"] and done["error"] is None


async def test_a_job_gives_up_after_its_last_attempt_and_metrics_count_it(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database,
    client: httpx.AsyncClient,
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    async with failing_writes(db, times=1000):
        job = (await gql.data(REFRESH, key=tenant.write))["refreshScores"]["job"]
        await run_jobs(settings)
    done = await state(gql, tenant.read, job["id"])
    attempts = settings.job_max_attempts
    assert done["status"] == "FAILED" and done["attempts"] == attempts, done
    assert done["error"].startswith(f"gave up after {attempts} attempts: ")
    assert "database blip" in done["error"]
    metrics = (await client.get("/metrics")).text
    assert 'bg_jobs_dead{kind="REFRESH_SCORES"}' in metrics
    dead = next(float(line.split()[-1]) for line in metrics.splitlines()
                if line.startswith('bg_jobs_dead{kind="REFRESH_SCORES"}'))
    retries = next(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith('bg_job_retries{kind="REFRESH_SCORES"}'))
    assert dead >= 1 and retries >= attempts - 1


async def test_a_permanent_failure_fails_at_once(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    async with db.tenant(tenant.id) as conn:  # a generation for a list that is gone
        job = await job_store.create_job(
            conn, tenant.id, JobKind.CREATE,
            {"solution_interest_id": str(uuid.uuid4()), "account_list_id": str(uuid.uuid4())})
    status = await runner.run_job(db, job.id, 60, settings)
    async with db.tenant(tenant.id) as conn:
        failed = await job_store.get_job(conn, job.id)
    assert status == "FAILED" and failed is not None and failed.attempts == 1
    assert failed.error == "the solution interest no longer exists" and not failed.gave_up


async def test_a_job_that_kills_its_worker_is_not_run_forever(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database,
    redis: Any,
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    async with failing_writes(db, times=0, sleep=60):  # every attempt hangs in the database
        job = (await gql.data(REFRESH, key=tenant.write))["refreshScores"]["job"]
        for attempt in (1, 2):
            worker = start_worker(settings, JOB_MAX_ATTEMPTS="2")
            try:
                for _ in range(300):
                    if (await state(gql, tenant.read, job["id"]))["attempts"] == attempt:
                        break
                    await asyncio.sleep(0.05)
                worker.send_signal(signal.SIGKILL)  # the job "crashed" its worker
                worker.wait(timeout=10)
            finally:
                if worker.poll() is None:
                    worker.kill()
            async with db.as_login() as conn:  # its lease lapses (as after JOB_LEASE_SECONDS)
                await conn.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                                   "WHERE query LIKE '%INSERT INTO engagement_passes%' "
                                   "AND pid <> pg_backend_pid()")
                await conn.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 s' "
                                   "WHERE id = $1", decode_id(job["id"], "BuyingGroupJob", []))
        await sweep(db, redis, settings.queue_name, 60, max_attempts=2)
    done = await state(gql, tenant.read, job["id"])
    assert done["status"] == "FAILED" and done["attempts"] == 2, done
    assert "gave up after 2 attempts" in done["error"] and "worker" in done["error"]


async def test_every_kind_can_run_twice(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    """At-least-once execution: each handler run a second time over what the first did ends
    where one run ends (the same groups, members and scores)."""
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])

    async def snapshot() -> list[Any]:
        async with db.tenant(tenant.id) as conn:
            return [tuple(r) for r in await conn.fetch(
                """SELECT g.name, g.completeness, g.engagement, g.member_count, g.stage_id,
                          (SELECT count(*) FROM buying_group_members m
                            WHERE m.buying_group_id = g.id AND NOT m.is_removed)
                     FROM buying_groups g ORDER BY g.name""")]

    one = await snapshot()
    si = str(decode_id(cat["si"], "SolutionInterest", ["si"]))
    audience = str(decode_id(cat["list"], "AccountList", ["list"]))
    payloads = {JobKind.CREATE: {"solution_interest_id": si, "account_list_id": audience},
                JobKind.MAINTAIN: {"solution_interest_id": si},
                JobKind.REFRESH_SCORES: {},
                JobKind.APPLY_STAGE_MODEL: {"solution_interest_id": si}}
    for kind, payload in payloads.items():
        for _ in range(2):
            async with db.tenant(tenant.id) as conn:
                job = await job_store.create_job(conn, tenant.id, kind, payload)
            assert await runner.run_job(db, job.id, 60, settings) == "SUCCEEDED", kind
    assert await snapshot() == one


async def test_one_of_a_kind_while_queued_or_running(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    sync = "mutation { syncActivities { job { id } deduplicated userErrors { code } } }"
    first = (await gql.data(sync, key=tenant.write))["syncActivities"]
    again = (await gql.data(sync, key=tenant.write))["syncActivities"]
    assert first["deduplicated"] is False and again == {**first, "deduplicated": True}
    refresh = """mutation($ids: [ID!]) { refreshScores(input: {buyingGroupIds: $ids}) {
      job { id } deduplicated } }"""
    everything = (await gql.data(refresh, {}, key=tenant.write))["refreshScores"]
    assert (await gql.data(refresh, {}, key=tenant.write))["refreshScores"] == {
        **everything, "deduplicated": True}
    maintain = """mutation($si: ID!) { maintainBuyingGroups(input: {solutionInterestId: $si}) {
      job { id } deduplicated } }"""
    m1 = (await gql.data(maintain, {"si": cat["si"]}, key=tenant.write))["maintainBuyingGroups"]
    m2 = (await gql.data(maintain, {"si": cat["si"]}, key=tenant.write))["maintainBuyingGroups"]
    assert m2 == {**m1, "deduplicated": True}
    create = """mutation($si: ID!, $list: ID!) { createBuyingGroups(input:
      {solutionInterestId: $si, accountListId: $list}) { job { id } deduplicated } }"""
    variables = {"si": cat["si"], "list": cat["list"]}
    c1 = (await gql.data(create, variables, key=tenant.write))["createBuyingGroups"]
    c2 = (await gql.data(create, variables, key=tenant.write))["createBuyingGroups"]
    assert c2 == {**c1, "deduplicated": True}
    await run_jobs(settings)
    # Once those ended, the next one is a new job.
    later = (await gql.data(sync, key=tenant.write))["syncActivities"]
    assert later["deduplicated"] is False and later["job"]["id"] != first["job"]["id"]
    [group] = (await gql.data("{ buyingGroups { nodes { id } } }", key=tenant.read))[
        "buyingGroups"]["nodes"]
    some = (await gql.data(refresh, {"ids": [group["id"]]}, key=tenant.write))["refreshScores"]
    assert some["deduplicated"] is False  # another set of groups is another job


async def test_a_tenant_with_many_jobs_delays_another_by_at_most_one_slot(
    settings: Settings, db: Database, tenant: TenantKeys
) -> None:
    async with db.as_login() as conn:  # a second tenant, and nothing else queued
        await conn.execute("UPDATE jobs SET status = 'CANCELLED' "
                           "WHERE status IN ('QUEUED', 'RUNNING')")
        other = await conn.fetchval("INSERT INTO tenants (name) VALUES ('Busy') RETURNING id")
    async with db.tenant(other) as conn:
        busy = [await job_store.create_job(conn, other, JobKind.REFRESH_SCORES)
                for _ in range(20)]
    async with db.tenant(tenant.id) as conn:
        mine = await job_store.create_job(conn, tenant.id, JobKind.REFRESH_SCORES)
    order = []
    one_at_a_time = settings.model_copy(update={"jobs_per_tenant": 2})
    while (status := await runner.run_next(db, one_at_a_time)) is not None:
        assert status == "SUCCEEDED"
        async with db.as_login() as conn:
            last = await conn.fetchval(
                "SELECT id FROM jobs WHERE status = 'SUCCEEDED' ORDER BY finished_at DESC "
                "LIMIT 1")
        order.append(last)
    assert len(order) == 21 and set(order) == {j.id for j in busy} | {mine.id}
    assert order.index(mine.id) <= 1  # the busy tenant's 20 jobs delay it by one at most


async def test_a_worker_runs_at_most_jobs_per_tenant_of_one_tenant_at_once(
    settings: Settings, db: Database, tenant: TenantKeys
) -> None:
    async with db.as_login() as conn:
        await conn.execute("UPDATE jobs SET status = 'CANCELLED' "
                           "WHERE status IN ('QUEUED', 'RUNNING')")
    async with db.tenant(tenant.id) as conn:
        jobs = [await job_store.create_job(conn, tenant.id, JobKind.REFRESH_SCORES)
                for _ in range(3)]
    async with db.as_login() as conn:
        claimed = [await job_store.claim_next(conn, 60, 5, per_tenant=2) for _ in range(3)]
    assert [c is not None for c in claimed] == [True, True, False]
    assert {c.id for c in claimed if c} <= {j.id for j in jobs}


async def test_retention_deletes_old_finished_jobs_and_history(
    gql: GraphQLClient, settings: Settings, db: Database, tenant: TenantKeys
) -> None:
    from jobs.worker import retention

    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    async with db.tenant(tenant.id) as conn:
        group = await conn.fetchval("SELECT id FROM buying_groups")
        days = settings.history_retention_days
        await conn.execute(
            """INSERT INTO buying_group_score_history (tenant_id, buying_group_id, day,
                                                       completeness, engagement)
               VALUES ($1, $2, current_date - $3::int, 1, 1), ($1, $2, current_date - $4::int,
                                                               2, 2),
                      ($1, $2, current_date - $5::int, 3, 3)""",
            tenant.id, group, days + 5, days + 1, days - 1)
    async with db.tenant(tenant.id) as conn:
        old = await job_store.create_job(conn, tenant.id, JobKind.REFRESH_SCORES)
        young = await job_store.create_job(conn, tenant.id, JobKind.REFRESH_SCORES)
        waiting = await job_store.create_job(conn, tenant.id, JobKind.SYNC_ACTIVITIES)
    async with db.as_login() as conn:
        await conn.execute(
            "UPDATE jobs SET status = 'SUCCEEDED', finished_at = now() - $2 * interval '1 day' "
            "WHERE id = $1", old.id, settings.job_retention_days + 1)
        await conn.execute("UPDATE jobs SET status = 'FAILED', finished_at = now() "
                           "WHERE id = $1", young.id)
        await conn.execute("UPDATE jobs SET created_at = now() - interval '400 days' "
                           "WHERE id = $1", waiting.id)
        # The CREATE job that made the group: deleting it unlinks the group (which moves the
        # overview's tallies: the tenant's to write, not the system role's).
        creator = await conn.fetchval(
            "UPDATE jobs SET finished_at = now() - $2 * interval '1 day' "
            "WHERE id = (SELECT created_by_job_id FROM buying_groups WHERE id = $1) RETURNING id",
            group, settings.job_retention_days + 1)
    assert creator is not None
    await retention({"settings": settings, "db": db})
    async with db.as_login() as conn:
        left = {r["id"] for r in await conn.fetch("SELECT id FROM jobs WHERE id = ANY($1)",
                                                  [old.id, young.id, waiting.id, creator])}
        unlinked = await conn.fetchval(
            "SELECT created_by_job_id IS NULL FROM buying_groups WHERE id = $1", group)
    assert left == {young.id, waiting.id}  # unfinished jobs stay, however old
    assert unlinked is True  # the group stays, no longer pointing at a deleted job
    async with db.tenant(tenant.id) as conn:
        kept = [r["day"] for r in await conn.fetch(
            "SELECT day FROM buying_group_score_history WHERE day < current_date ORDER BY day")]
    # A snapshot holds until the next one: the latest before the cutoff is the scores on the
    # cutoff's day, and stays; the one before it goes.
    assert [(date.today() - day).days for day in kept] == [days + 1, days - 1]


async def test_a_sync_stops_at_its_deadline_and_goes_on_at_the_next_run(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database
) -> None:
    await source_with_visits(gql, tenant, simulator, 3000, day=-2, leads=40)
    # Every call takes half a second: the first page comes within the deadline even on a
    # busy machine, the tenth long after it.
    await sim(simulator, "/_sim/faults", {"slow_ms": 500})
    bounded = settings.model_copy(update={"activity_sync_max_seconds": 4.0})
    try:
        first = await sync(gql, bounded, tenant.write)
    finally:
        await sim(simulator, "/_sim/faults", {})

    async def stored() -> int:
        async with db.tenant(tenant.id) as conn:
            count: int = await conn.fetchval("SELECT count(*) FROM activities")
            return count

    assert first["status"] == "SUCCEEDED", first
    part = await stored()
    assert 0 < part < 3000 and part % 300 == 0  # whole pages, with their cursor
    assert (await sync(gql, settings, tenant.write))["status"] == "SUCCEEDED"
    assert await stored() == 3000


async def test_an_unresponsive_source_fails_the_attempt_by_its_deadline(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str
) -> None:
    await source_with_visits(gql, tenant, simulator, 10, day=-1, leads=2)
    await sim(simulator, "/_sim/faults", {"slow_ms": 3000})  # longer than the deadline
    bounded = settings.model_copy(update={"activity_sync_max_seconds": 1.0,
                                          "job_max_attempts": 2})
    try:
        failed = await sync(gql, bounded, tenant.write)
    finally:
        await sim(simulator, "/_sim/faults", {})
    assert failed["status"] == "FAILED", failed
    assert failed["error"] == ("gave up after 2 attempts: the activity source did not answer "
                               "within 1 s")
