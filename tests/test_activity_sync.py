"""Activity from the simulator (a separate process speaking the Marketo protocol) to scores:
the worked example end to end, exactly-once ingestion under every fault, resumable syncs."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis

from jobs import activity_sync
from jobs.sweeper import sweep
from service.infra.config import Settings
from service.infra.db import Database
from service.sources.call_rate import CallRate
from service.store import activities as activity_store
from service.store import activity_sync as sync_store
from tests.support import (
    ASSIGN,
    CLICK,
    CREATE_LIST,
    CREATE_SI,
    CREATE_TEMPLATE,
    DOWNLOAD,
    JOB,
    PUBLISH,
    STATE,
    SYNC,
    VISIT,
    GraphQLClient,
    TenantKeys,
    at,
    generate,
    role_ids,
    run_jobs,
    setup_catalogue,
    sim,
    source_with_visits,
    start_worker,
    stats,
    sync,
    synced_activity,
    upsert_accounts,
    upsert_people,
    use_simulator,
)


async def test_the_worked_example_end_to_end(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str
) -> None:
    await sim(simulator, "/_sim/config", {"reset": True})
    await use_simulator(gql, tenant, simulator)
    tag = uuid.uuid4().hex[:6]
    names = ["Adam", "Mark", "John", "Bob", "Paul", "Calvin"]
    lead = {n: str(7_000_000 + i) + tag for i, n in enumerate(names)}
    await upsert_accounts(gql, tenant.write, [{"externalId": "ACME", "name": "Acme"}])
    people = (await upsert_people(gql, tenant.write, [
        {"externalId": lead[n], "accountExternalId": "ACME", "firstName": n} for n in names
    ]))["people"]
    person = {p["fullName"]: p["id"] for p in people}
    roles = await role_ids(gql, tenant.read)
    template = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "Worked", "roles": [
        {"roleId": roles["Decision Maker"], "weighting": "VITAL"},
        {"roleId": roles["Influencer"], "weighting": "IMPORTANT"},
        {"roleId": roles["Practitioner"], "weighting": "NORMAL"}]}}, key=tenant.write))[
        "createRoleTemplate"]["roleTemplate"]
    assert [r["weightPercent"] for r in template["roles"]] == [41.67, 33.33, 25.0]
    await gql.data(PUBLISH, {"id": template["id"]}, key=tenant.write)
    si = (await gql.data(CREATE_SI, {"input": {"name": "Example", "roleTemplateId":
                                               template["id"]}}, key=tenant.write))
    account = (await gql.data('{ account(externalId: "ACME") { id } }', key=tenant.read))
    audience = (await gql.data(CREATE_LIST, {"input": {"name": "Acme only", "kind": "STATIC",
        "accountIds": [account["account"]["id"]]}}, key=tenant.write))
    job = (await gql.data("""mutation($si: ID!, $list: ID!) { createBuyingGroups(input:
        {solutionInterestId: $si, accountListId: $list}) { job { id } } }""",
        {"si": si["createSolutionInterest"]["solutionInterest"]["id"],
         "list": audience["createAccountList"]["accountList"]["id"]}, key=tenant.write))
    assert job["createBuyingGroups"]["job"]["id"]
    await run_jobs(settings)
    group = (await gql.data("{ buyingGroups { nodes { id } } }", key=tenant.read))[
        "buyingGroups"]["nodes"][0]["id"]
    for name, role in (("Adam", "Decision Maker"), ("Mark", "Decision Maker"),
                       ("John", "Influencer"), ("Bob", "Practitioner"),
                       ("Paul", "Practitioner"), ("Calvin", "Practitioner")):
        await gql.data(ASSIGN, {"group": group, "person": person[name], "role": roles[role]},
                       key=tenant.write)

    table = [("Adam", VISIT, 37, 15), ("Adam", CLICK, 1, 1), ("Mark", VISIT, 5, 3),
             ("Mark", CLICK, 1, 1), ("Mark", DOWNLOAD, 3, 2), ("John", VISIT, 19, 9),
             ("Bob", CLICK, 1, 1), ("Paul", CLICK, 1, 1), ("Calvin", CLICK, 1, 1),
             ("Calvin", VISIT, 1, 7), ("Calvin", DOWNLOAD, 1, 2)]
    activities = []
    for name, kind, yesterday, today in table:
        activities += [{"leadId": lead[name], "activityTypeId": kind,
                        "activityDate": at(-1, 3600 + i)} for i in range(yesterday)]
        activities += [{"leadId": lead[name], "activityTypeId": kind,
                        "activityDate": at(0, i)} for i in range(today)]
    await sim(simulator, "/_sim/activities", activities)

    result = await sync(gql, settings, tenant.write)
    assert result["status"] == "SUCCEEDED", result
    assert result["buyingGroupsUpdated"] == 1  # rescored right away
    data = await gql.data("""query($id: ID!) { node(id: $id) { ... on BuyingGroup {
      engagement { value display windowStart windowEnd breakdown {
        role { name } weightPercent points weightedPoints
        members { person { firstName } points activities { activityType { name } rawCount
          cappedCount points days { count capped } } } } }
      scoreHistory(days: 7) { engagement completeness } } } }""", {"id": group},
                          key=tenant.read)
    engagement = data["node"]["engagement"]
    assert engagement["value"] == 35.25 and engagement["display"] == 35
    breakdown = engagement["breakdown"]
    assert [(r["role"]["name"], r["points"]) for r in breakdown] == [
        ("Decision Maker", 52), ("Influencer", 28), ("Practitioner", 17)]
    assert [round(r["weightedPoints"], 3) for r in breakdown] == [21.667, 9.333, 4.25]
    adam = next(m for m in breakdown[0]["members"] if m["person"]["firstName"] == "Adam")
    visits = next(a for a in adam["activities"] if a["activityType"]["name"] == "Visit Webpage")
    assert (visits["rawCount"], visits["cappedCount"], visits["points"]) == (52, 35, 35)
    assert [d["capped"] for d in visits["days"]] == [20, 15]
    assert data["node"]["scoreHistory"][-1]["engagement"] == 35.25

    # Running the sync again changes nothing.
    again = await sync(gql, settings, tenant.write)
    assert again["status"] == "SUCCEEDED" and again["buyingGroupsUpdated"] == 0
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert state["activitiesIngested"] == len(activities)
    assert state["lastError"] is None and state["cursorAt"] is not None
    # Nor does paging the whole window again: the tally counts each activity once.
    await gql.data("mutation { syncActivities(input: {restartFromWindow: true}) { job { id } } }",
                   key=tenant.write)
    await run_jobs(settings)
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert state["activitiesIngested"] == len(activities) and state["lastError"] is None
    person_activity = await gql.data("""query($id: ID!) { node(id: $id) { ... on Person {
        activities(first: 5) { totalCount nodes { sourceTypeId } } } } }""",
                                     {"id": person["Adam"]}, key=tenant.read)
    assert person_activity["node"]["activities"]["totalCount"] == 54


FAULTS = {
    "rate limit (606)": {"rate_limit_every": 3},
    "token expiry (602)": {"token_expire_every": 4},
    "HTTP 500": {"http_500_every": 3},
    "empty pages with moreResult": {"empty_page_every": 2},
    "overlapping pages": {"overlap": 25},
    "slow responses": {"slow_ms": 30},
    "concurrency limit (615)": {"concurrency_limit": 1, "slow_ms": 20},
}


@pytest.mark.parametrize("faults", list(FAULTS.values()), ids=list(FAULTS))
async def test_every_activity_is_stored_exactly_once_under_faults(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database,
    faults: dict[str, int],
) -> None:
    await sim(simulator, "/_sim/config", {"reset": True})
    await use_simulator(gql, tenant, simulator)
    tag = uuid.uuid4().hex[:6]
    added = await sim(simulator, "/_sim/activities", [
        {"leadId": f"L{i % 40}-{tag}", "activityTypeId": [VISIT, CLICK, 12, 25][i % 4],
         "activityDate": at(-1 - i % 20, i)} for i in range(800)])
    await sim(simulator, "/_sim/faults", faults)
    result = await sync(gql, settings, tenant.write)
    await sim(simulator, "/_sim/faults", {})
    assert result["status"] == "SUCCEEDED", result
    served = await stats(simulator)
    async with db.tenant(tenant.id) as conn:
        stored = await conn.fetchval("SELECT count(*) FROM activities WHERE tenant_id = $1",
                                     tenant.id)
        rolled = await conn.fetchval("SELECT sum(count) FROM activity_daily WHERE tenant_id = $1",
                                     tenant.id)
    assert served["servedDistinct"] == added["added"] == 800
    assert stored == rolled == 800  # no loss, no duplicate, in the rows and in the rollup


async def test_a_sync_killed_mid_way_resumes_without_loss_or_duplicates(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database,
    redis: ArqRedis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await source_with_visits(gql, tenant, simulator, 1000, day=-2, leads=10)
    original = sync_store.save_cursor
    saved = {"n": 0}

    class WorkerKilled(BaseException):
        pass

    async def dies_on_second_write(*args: Any) -> None:
        saved["n"] += 1
        if saved["n"] == 2:  # killed before the second write commits: its rows roll back
            raise WorkerKilled
        await original(*args)

    monkeypatch.setattr(sync_store, "save_cursor", dies_on_second_write)
    monkeypatch.setattr(activity_sync, "CONCURRENT_CHUNKS", 1)
    job = (await gql.data(SYNC, key=tenant.write))["syncActivities"]["job"]
    with pytest.raises(WorkerKilled):
        await run_jobs(settings)
    monkeypatch.setattr(sync_store, "save_cursor", original)
    async with db.tenant(tenant.id) as conn:
        first_write = await conn.fetchval("SELECT count(*) FROM activities")
        assert 0 < first_write < 1000 and first_write % 300 == 0  # whole pages, nothing half
        await conn.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
                           "WHERE kind = 'SYNC_ACTIVITIES'")
    await redis.delete(settings.queue_name)
    await sweep(db, redis, settings.queue_name, queued_grace_seconds=60,
                   max_attempts=settings.job_max_attempts)
    await run_jobs(settings)
    done = (await gql.data(JOB, {"id": job["id"]}, key=tenant.read))["node"]
    assert done["status"] == "SUCCEEDED"
    async with db.tenant(tenant.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM activities") == 1000
        assert await conn.fetchval("SELECT sum(count) FROM activity_daily") == 1000


async def test_the_connector_stays_under_the_sources_call_rate(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database,
) -> None:
    await source_with_visits(gql, tenant, simulator, 1500, day=-2, leads=30)
    # Marketo's rule, scaled down: more than 3 calls in any second are refused with 606.
    await sim(simulator, "/_sim/faults", {"rate_limit_calls": 3, "rate_limit_window_ms": 1000})
    limited = settings.model_copy(update={"activity_api_max_calls": 3,
                                          "activity_api_rate_window_seconds": 1.0})
    try:
        result = await sync(gql, limited, tenant.write)
    finally:
        await sim(simulator, "/_sim/faults", {})
    assert result["status"] == "SUCCEEDED", result
    served = await stats(simulator)
    assert served["calls"] >= 7  # types, paging token, five pages: over the limit at full speed
    assert served["refusals"] == {}  # not one 606
    async with db.tenant(tenant.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM activities") == 1500


async def test_a_spent_daily_call_budget_stops_the_sync_clearly_keeping_what_it_stored(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str,
    redis: ArqRedis,
) -> None:
    await source_with_visits(gql, tenant, simulator, 1500, day=-2, leads=30)
    await use_simulator(gql, tenant, simulator, type_ids=[VISIT])  # one chunk: one cursor
    # A fresh quota day for the simulator's instance, which other tests call too.
    await redis.delete(CallRate(redis, simulator, 0, 20).day_key(
        time.time() * 1000))
    budget = settings.model_copy(update={"activity_api_daily_calls": 4})
    result = await sync(gql, budget, tenant.write)
    assert result["status"] == "FAILED" and "budget of 4 calls" in result["error"], result
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert "budget of 4 calls" in state["lastError"]
    # Types, paging token and two pages fitted in the budget: those stay stored.
    assert state["activitiesIngested"] == 600
    assert (await stats(simulator))["calls"] == 4


async def test_a_worker_process_killed_mid_sync_loses_and_duplicates_nothing(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database,
    redis: ArqRedis,
) -> None:
    total = 3000
    await source_with_visits(gql, tenant, simulator, total, day=-3, leads=50)
    await sim(simulator, "/_sim/faults", {"slow_ms": 150})  # ten pages take seconds

    async def stored() -> tuple[int, int]:
        async with db.tenant(tenant.id) as conn:
            rows = await conn.fetchval("SELECT count(*) FROM activities")
            rolled = await conn.fetchval("SELECT coalesce(sum(count), 0) FROM activity_daily")
            return rows, rolled

    job = (await gql.data(SYNC, key=tenant.write))["syncActivities"]["job"]
    worker = start_worker(settings)
    try:
        for _ in range(600):
            rows, _ = await stored()
            if rows:
                break
            await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGKILL)  # no clean-up of any kind
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    await sim(simulator, "/_sim/faults", {})
    rows, rolled = await stored()
    assert 0 < rows < total and rows % 300 == 0 and rolled == rows  # whole pages only

    successor = start_worker(settings)
    try:
        for _ in range(600):
            done = (await gql.data(
                'query($id: ID!) { node(id: $id) { ... on BuyingGroupJob { status attempts } } }',
                {"id": job["id"]}, key=tenant.read))["node"]
            if done["status"] in ("SUCCEEDED", "FAILED"):
                break
            await asyncio.sleep(0.1)
    finally:
        successor.terminate()
        successor.wait(timeout=30)
        # What the killed and the stopped worker left in arq (a message held "in progress"
        # for hours) would keep a later test's burst worker polling forever.
        await redis.delete(settings.queue_name)
    assert done == {"status": "SUCCEEDED", "attempts": 2}  # taken up again after the kill
    assert await stored() == (total, total)
    assert (await stats(simulator))["servedDistinct"] == total
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert state["activitiesIngested"] == total and state["lastError"] is None


@pytest.mark.parametrize(
    ("secret", "faults", "message"),
    [
        ("wrong", {}, "refused the client id and secret"),
        ("demo-secret", {"daily_quota_exceeded": True}, "daily API quota"),
    ],
)
async def test_unrecoverable_source_errors_fail_the_job_clearly(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, secret: str,
    faults: dict[str, Any], message: str, redis: ArqRedis,
) -> None:
    await sim(simulator, "/_sim/config", {"reset": True})
    await use_simulator(gql, tenant, simulator, secret=secret, check=False)
    await sim(simulator, "/_sim/faults", faults)
    try:
        result = await sync(gql, settings, tenant.write)
    finally:
        await sim(simulator, "/_sim/faults", {})
        # A 607 spends the simulator instance's quota day for every later test: give it back.
        await redis.delete(
            f"{CallRate(redis, simulator, 0, 20).day_key(time.time() * 1000)}:quota-spent")
    assert result["status"] == "FAILED" and message in result["error"]
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert message in state["lastError"] and state["lastSuccessAt"] is None


async def test_retention_drops_old_partitions_and_rollup_days(
    db: Database, tenant: TenantKeys
) -> None:
    today = datetime.now(UTC).date()
    old = datetime(today.year - 2, today.month, 1, 12, tzinfo=UTC)
    recent = datetime.now(UTC) - timedelta(days=1)
    async with db.as_login() as conn:
        await activity_store.ensure_partitions(conn, [activity_store.month_start(old)])
    async with db.tenant(tenant.id) as conn:
        for moment, source in ((old, "old-1"), (recent, "new-1"), (old, "old-2")):
            await conn.execute(
                "INSERT INTO activities (tenant_id, activity_date, source_id, lead_id, "
                "source_type_id) VALUES ($1, $2, $3, 'L', 1)", tenant.id, moment, source)
            if source == "new-1":  # the old month's tally folded, and a delta of it after
                await activity_store.compact_tallies(conn, tenant.id)
        await conn.execute(
            "INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, count) "
            "VALUES ($1, 'L', 1, $2, 2), ($1, 'L', 1, $3, 1)", tenant.id, old.date(),
            recent.date())
        assert await activity_store.count_activities_of_lead(conn, tenant.id, "L", None) == 3
    dropped = await activity_sync.drop_old_activity(db, 13)
    assert f"activities_y{old.year:04d}m{old.month:02d}" in dropped
    async with db.tenant(tenant.id) as conn:
        assert await conn.fetchval("SELECT array_agg(source_id) FROM activities") == ["new-1"]
        assert await conn.fetchval("SELECT array_agg(day) FROM activity_daily") == [
            recent.date()]
        # The dropped month's tallies went with it (migration 0019), folded and delta alike.
        assert await activity_store.count_activities_of_lead(conn, tenant.id, "L", None) == 1
        page = (await activity_store.first_pages_of_leads(
            conn, tenant.id, ["L"], since=None, limit=5))["L"]
        assert [a.source_id for a in page.items] == ["new-1"] and page.total_count == 1
        months = await conn.fetch("SELECT month FROM activity_tallies UNION ALL "
                                  "SELECT month FROM activity_tally_deltas")
        assert {r["month"] for r in months} == {activity_store.month_start(recent)}


def test_activity_months_are_utc_months() -> None:
    from datetime import date

    months = activity_sync.activity_months([
        {"activityDate": "2026-11-30T23:59:59Z"},
        {"activityDate": "2026-10-05T10:00:00+00:00"},
        {"activityDate": "2026-12-01T00:30:00+01:00"},  # 30 November in UTC
        {"activityDate": "2027-01-01T05:00:00+01:00"},
    ])
    assert months == {date(2026, 10, 1), date(2026, 11, 1), date(2027, 1, 1)}


async def test_the_first_sync_gives_the_groups_a_history(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str
) -> None:
    """Trends and charts need a past: the first sync stores the snapshots of the scoring
    window's past days, scored from the activity it fetched; later syncs add none."""
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    await synced_activity(gql, settings, tenant, simulator, [
        {"leadId": "A0-ceo", "activityTypeId": VISIT, "activityDate": at(-10, i)}
        for i in range(3)] + [
        {"leadId": "A0-ceo", "activityTypeId": VISIT, "activityDate": at(-2, i)}
        for i in range(2)])
    history = """{ buyingGroups(first: 1) { nodes { engagement { value }
        scoreHistory(days: 30) { date engagement } } } }"""
    group = (await gql.data(history, key=tenant.read))["buyingGroups"]["nodes"][0]
    snapshots = group["scoreHistory"]
    assert len(snapshots) == 30
    by_age = [s["engagement"] for s in snapshots]  # oldest first: 29 days ago .. today
    assert by_age[29 - 11] == 0 < by_age[29 - 10] < by_age[29 - 2] == by_age[29]
    assert by_age[29] == group["engagement"]["value"]
    await sync(gql, settings, tenant.write)
    again = (await gql.data(history, key=tenant.read))["buyingGroups"]["nodes"][0]
    assert again["scoreHistory"] == snapshots
