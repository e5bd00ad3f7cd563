"""A tenant's activity source is untrusted (issue: trust boundary): it never receives a secret it
was not given, cannot point the worker at a private address, and cannot stop the tenant's sync
with hostile data."""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis

from service.infra import outbound
from service.infra.config import Settings
from service.infra.db import Database
from service.sources.call_rate import CallRate
from service.store import activities as activity_store
from service.store import activity_sync as sync_store
from tests.support import (
    STATE,
    VISIT,
    GraphQLClient,
    Listener,
    TenantKeys,
    at,
    sim,
    source_with_visits,
    stats,
    sync,
    use_simulator,
)

# Unchecked: these tests point sources at a listener that is no source, to see where secrets go.
CONFIGURE = """mutation($url: String!, $client: String!, $secret: String) {
  configureActivitySource(input: {baseUrl: $url, clientId: $client, clientSecret: $secret,
                                  check: false}) {
    activitySync { source { baseUrl clientId hasClientSecret } }
    userErrors { field code message } } }"""


async def configure(gql: GraphQLClient, tenant: TenantKeys, url: str, client: str = "x",
                    secret: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = (await gql.data(
        CONFIGURE, {"url": url, "client": client, "secret": secret},
        key=tenant.admin))["configureActivitySource"]
    return result


async def test_a_source_of_ones_own_needs_its_own_secret_and_the_service_secret_goes_nowhere(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys,
    listener: Listener,
) -> None:
    url, received = listener.url, listener.received
    refused = await configure(gql, tenant, url)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "clientSecret"], "REQUIRED")]
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert state["source"] == {"baseUrl": None, "clientId": None, "hasClientSecret": False}
    await sync(gql, settings, tenant.write)  # the service-wide source, wherever that is
    assert received == []
    assert not any(settings.activity_api_client_secret.encode() in r for r in received)


async def test_a_stored_secret_never_follows_a_new_url_or_client_id(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str,
    listener: Listener, db: Database,
) -> None:
    url, received = listener.url, listener.received
    await use_simulator(gql, tenant, simulator, secret="tenant-secret", check=False)
    moved = await configure(gql, tenant, url, client="demo-client")
    assert [(e["field"], e["code"]) for e in moved["userErrors"]] == [
        (["input", "clientSecret"], "SECRET_REQUIRED")]
    renamed = await configure(gql, tenant, simulator, client="other-client")
    assert [e["code"] for e in renamed["userErrors"]] == ["SECRET_REQUIRED"]
    # Below the API too: the store drops a secret whose URL changes without a new one.
    async with db.tenant(tenant.id) as conn:
        await sync_store.configure_source(conn, tenant.id, sync_store.SourceSettings(
            url, "demo-client", None, None))
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert state["source"] == {"baseUrl": url, "clientId": "demo-client",
                               "hasClientSecret": False}
    job = await sync(gql, settings, tenant.write)
    assert job["status"] == "FAILED" and "no client secret" in job["error"]
    assert received == []
    # With a secret of its own, the new host gets that one, and only that one.
    given = await configure(gql, tenant, url, client="demo-client", secret="listener-secret")
    assert given["userErrors"] == []
    await sync(gql, settings, tenant.write)
    assert received and all(b"listener-secret" in r for r in received)
    for secret in (b"tenant-secret", settings.activity_api_client_secret.encode()):
        assert not any(secret in r for r in received)
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert "listener-secret" not in state["lastError"]
    assert state["lastError"].startswith("gave up after")


@pytest.mark.parametrize("url", [
    "http://127.0.0.2:{port}", "http://localhost:{port}", "http://[::1]:{port}",
    "http://0.0.0.0:{port}", "http://[::ffff:127.0.0.1]:{port}", "http://2130706433:{port}",
    "http://10.0.0.1", "http://192.168.0.10", "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1", "http://[fd00::1]", "http://224.0.0.1",
])
async def test_private_and_local_addresses_are_refused_on_configure(
    gql: GraphQLClient, tenant: TenantKeys, listener: Listener, url: str,
) -> None:
    port = listener.port
    result = await configure(gql, tenant, url.format(port=port), secret="s")
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        (["input", "baseUrl"], "ADDRESS_NOT_ALLOWED")], result
    assert result["activitySync"] is None
    assert listener.received == []


@pytest.mark.parametrize("url", [
    "ftp://example.com", "http://user:pw@example.com", "http://example.com/#top", "example.com",
    "http://example.com:0",
])
async def test_urls_of_the_wrong_form_are_refused_on_configure(
    gql: GraphQLClient, tenant: TenantKeys, url: str,
) -> None:
    result = await configure(gql, tenant, url, secret="s")
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        (["input", "baseUrl"], "INVALID_VALUE")]


async def test_a_name_that_turns_private_after_configure_is_never_called(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys,
    listener: Listener, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: public when configured, loopback when the worker dials."""
    port = listener.port
    answers = {"rebind.test": "93.184.216.34"}

    async def resolve(host: str, _port: int) -> list[outbound.IPAddress]:
        return [ipaddress.ip_address(answers[host])]

    monkeypatch.setattr(outbound, "resolve_host", resolve)
    assert (await configure(gql, tenant, f"http://rebind.test:{port}",
                            secret="s"))["userErrors"] == []
    answers["rebind.test"] = "127.0.0.1"
    job = await sync(gql, settings, tenant.write)
    assert job["status"] == "FAILED" and "may not be called" in job["error"], job
    assert listener.received == []


async def partitions(db: Database) -> set[str]:
    async with db.as_login() as conn:
        rows = await conn.fetch(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'activities'""")
    return {r["relname"] for r in rows}


async def test_a_page_of_hostile_activities_is_skipped_and_counted_and_the_sync_succeeds(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database,
) -> None:
    await source_with_visits(gql, tenant, simulator, 120, day=-2, leads=6)
    await use_simulator(gql, tenant, simulator, type_ids=[VISIT])
    hostile: list[Any] = [
        {"marketoGUID": f"far-{m}", "leadId": "L1", "activityTypeId": VISIT,
         "activityDate": f"{2031 + m // 12}-{m % 12 + 1:02d}-15T00:00:00Z"} for m in range(40)]
    hostile += [
        {"marketoGUID": "doom", "leadId": "L1", "activityTypeId": VISIT,
         "activityDate": "9999-12-31T23:59:59Z"},
        {"marketoGUID": "no-lead", "leadId": None, "activityTypeId": VISIT,
         "activityDate": at(-1, 0)},
        {"leadId": "L1", "activityTypeId": VISIT, "activityDate": at(-1, 1)},
        {"marketoGUID": "ancient", "leadId": "L1", "activityTypeId": VISIT,
         "activityDate": "2001-01-01T00:00:00Z"},
        {"marketoGUID": "nul", "leadId": "L\u00001", "activityTypeId": VISIT,
         "activityDate": at(-1, 2)},
        {"marketoGUID": "big", "leadId": "L1", "activityTypeId": VISIT,
         "activityDate": at(-1, 3), "attributes": [{"name": "n", "value": 2**70}]},
        {"marketoGUID": "type", "leadId": "L1", "activityTypeId": "1; DROP TABLE x",
         "activityDate": at(-1, 4)},
        {"marketoGUID": "when", "leadId": "L1", "activityTypeId": VISIT, "activityDate": "soon"},
        "not an object", 17, None,
    ]
    await sim(simulator, "/_sim/raw", hostile)
    before = await partitions(db)
    job = await sync(gql, settings, tenant.write)
    assert job["status"] == "SUCCEEDED", job
    state = (await gql.data(STATE.replace("lastError", "lastError activitiesRejected "
                                          "lastRejection { reason sourceId at }"),
                            key=tenant.read))["activitySync"]
    assert state["activitiesIngested"] == 120
    assert state["activitiesRejected"] == len(hostile)
    assert state["lastRejection"]["reason"] and state["lastError"] is None
    # Partitions: none created beyond next month, whatever the dates.
    next_month = activity_store.next_month(activity_store.month_start(datetime.now(UTC)))
    for name in await partitions(db) - before:
        assert f"{name[12:16]}-{name[17:19]}" <= next_month.isoformat()[:7], name


async def test_an_identity_outage_is_retried_and_a_body_that_is_not_json_is_a_source_error(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str,
) -> None:
    await source_with_visits(gql, tenant, simulator, 30, day=-1, leads=3)
    await sim(simulator, "/_sim/faults", {"identity_500": 2})
    job = await sync(gql, settings, tenant.write)
    assert job["status"] == "SUCCEEDED", job
    await sim(simulator, "/_sim/config", {"reset": True})
    await use_simulator(gql, tenant, simulator)
    await sim(simulator, "/_sim/faults", {"not_json": True})
    job = await sync(gql, settings, tenant.write)
    assert job["status"] == "FAILED" and "not JSON" in job["error"], job
    state = (await gql.data(STATE, key=tenant.read))["activitySync"]
    assert "not JSON" in state["lastError"]
    await sim(simulator, "/_sim/faults", {})


async def test_after_a_607_no_call_goes_to_the_instance_until_its_quota_day_turns(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str,
    redis: ArqRedis,
) -> None:
    spent = f"{CallRate(redis, simulator, 0, 20).day_key(time.time() * 1000)}:quota-spent"
    await source_with_visits(gql, tenant, simulator, 30, day=-1, leads=3)
    await sim(simulator, "/_sim/faults", {"daily_quota_exceeded": True})
    try:
        job = await sync(gql, settings, tenant.write)
        assert job["status"] == "FAILED" and "607" in job["error"]
        await sim(simulator, "/_sim/faults", {})
        calls = (await stats(simulator))["calls"]
        job = await sync(gql, settings, tenant.write)
        assert job["status"] == "FAILED" and "quota day" in job["error"]
        assert (await stats(simulator))["calls"] == calls
        await redis.delete(spent)  # the quota day turned
        job = await sync(gql, settings, tenant.write)
        assert job["status"] == "SUCCEEDED"
    finally:
        await redis.delete(spent)
        await sim(simulator, "/_sim/faults", {})


def test_the_call_rate_window_belongs_to_the_instance_host(redis: ArqRedis) -> None:
    one = CallRate(redis, "https://123-ABC-456.mktorest.com/rest", 100, 20)
    assert one.key == CallRate(redis, "https://123-abc-456.mktorest.com:443/", 100, 20).key
    assert one.key != CallRate(redis, "https://999-abc-456.mktorest.com", 100, 20).key


async def test_no_partition_is_created_outside_the_retention_horizon_and_next_month(
    db: Database,
) -> None:
    """Below the screen, the store itself refuses: a bug upstream cannot make tables at will."""
    horizon = datetime(2026, 1, 1, tzinfo=UTC).date()
    far = activity_store.next_month(activity_store.next_month(
        activity_store.month_start(datetime.now(UTC))))
    before = await partitions(db)
    async with db.as_login() as conn:
        for month in (far, datetime(2025, 12, 1, tzinfo=UTC).date()):
            with pytest.raises(ValueError, match="no partition outside"):
                await activity_store.ensure_partitions(conn, [month], horizon)
    assert await partitions(db) == before


async def test_a_page_the_database_refuses_is_written_again_then_reported_by_page(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database,
) -> None:
    """A trigger refuses this tenant's cursor writes: twice (the retries carry the sync through),
    then for good (the job names the pages and why, and nothing half-written stays)."""
    await source_with_visits(gql, tenant, simulator, 50, day=-1, leads=5)
    await use_simulator(gql, tenant, simulator, type_ids=[VISIT])
    name = f"fault_{tenant.id.hex[:8]}"
    async with db.as_login() as conn:
        await conn.execute(f"""
            CREATE SEQUENCE {name};
            GRANT USAGE ON SEQUENCE {name} TO PUBLIC;
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.tenant_id = '{tenant.id}' AND nextval('{name}') NOT IN (3, 4, 5) THEN
                    RAISE EXCEPTION 'disk on fire';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON activity_sync_cursors
                FOR EACH ROW EXECUTE FUNCTION {name}();""")
    try:
        job = await sync(gql, settings, tenant.write)
        assert job["status"] == "SUCCEEDED", job  # failed twice, stored on the third attempt
        state = (await gql.data(STATE, key=tenant.read))["activitySync"]
        assert state["activitiesIngested"] == 50
        await sim(simulator, "/_sim/activities", [
            {"leadId": "V0-late", "activityTypeId": VISIT, "activityDate": at(0, 1)}])
        async with db.as_login() as conn:  # from now on every attempt fails
            await conn.execute(f"SELECT setval('{name}', 10)")
        job = await sync(gql, settings, tenant.write)
        # The database refusing may pass: the job is retried, and gives up after its last
        # attempt with what went wrong.
        assert job["status"] == "FAILED", job
        page = (f"pages 1-1 of activity types {VISIT} could not be stored after 3 attempts: "
                "RaiseError: disk on fire")
        assert job["error"] == f"gave up after {settings.job_max_attempts} attempts: {page}"
        state = (await gql.data(STATE, key=tenant.read))["activitySync"]
        assert state["activitiesIngested"] == 50 and state["lastError"] == page
    finally:
        async with db.as_login() as conn:
            await conn.execute(f"DROP TRIGGER {name} ON activity_sync_cursors; "
                               f"DROP FUNCTION {name}(); DROP SEQUENCE {name}")


async def test_the_partition_function_keeps_its_own_window_and_the_drop_its_floor(
    db: Database,
) -> None:
    """The owner's functions that the system role calls hold their limits themselves: a
    caller that steps around the store (an injection, say) cannot make or drop tables at will."""
    this_month = activity_store.month_start(datetime.now(UTC))
    too_far = activity_store.next_month(activity_store.next_month(this_month))
    before = await partitions(db)
    for month in (too_far, this_month.replace(year=this_month.year - 11), this_month.replace(
            day=2)):
        with pytest.raises(asyncpg.InvalidParameterValueError, match="no activity partition"):
            async with db.system() as conn:
                await conn.execute("SELECT ensure_activity_partitions($1::date[])", [month])
    with pytest.raises(asyncpg.InvalidParameterValueError, match="two months at least"):
        async with db.system() as conn:
            await conn.execute("SELECT drop_activity_partitions_before($1)", this_month)
    assert await partitions(db) == before
