"""The audit trail: every change, through the API, a job or the command line, is found in the
audit log with its actor; a refused change leaves no entry; events carry their actor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from jobs.worker import retention
from service.app import create_app
from service.infra.config import Settings
from service.infra.db import Database, create_pool
from tests.support import (
    GraphQLClient,
    LoopHarness,
    TenantKeys,
    generate,
    make_tenant,
    run_cli,
    setup_catalogue,
)

AUDIT = """query($filter: AuditLogFilter, $first: Int!, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { at actor actorId actorName kind subjects events units }
  }
}"""
KEYS = "{ apiKeys(first: 10) { nodes { id name } } }"
CREATE_ROLE = """mutation($name: String!) { createRole(input: {name: $name}) {
  role { id } userErrors { code } } }"""
RENAME_ROLE = """mutation($id: ID!, $name: String!) { updateRole(input: {id: $id, name: $name}) {
  role { id } userErrors { code } } }"""
DELETE_ROLE = """mutation($id: ID!) { deleteRole(input: {id: $id}) {
  deletedRoleId userErrors { code } } }"""


async def entries(gql: GraphQLClient, key: str, filter: dict[str, Any] | None = None
                  ) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql.data(AUDIT, {"filter": filter, "first": 100, "after": after},
                               key=key))["auditLog"]
        found += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def key_ids(gql: GraphQLClient, tenant: TenantKeys) -> dict[str, str]:
    """The global id of each of the tenant's keys, by scope ("ADMIN", "WRITE")."""
    nodes = (await gql.data(KEYS, key=tenant.admin))["apiKeys"]["nodes"]
    return {n["name"].split()[0]: n["id"] for n in nodes}


# --- a property: random change sequences, each change found with its actor ---------------------

class Harness(LoopHarness):
    """One app on a loop of its own."""

    async def start(self) -> None:
        self.db = Database(await create_pool(self.database_url, min_size=1, max_size=2))
        self.manager = LifespanManager(create_app(self.settings))
        await self.manager.__aenter__()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.manager.app),
                                      base_url="http://testserver", timeout=60)
        self.gql = GraphQLClient(self.http)

    async def stop(self) -> None:
        await self.http.aclose()
        await self.manager.__aexit__(None, None, None)
        await self.db.pool.close()


@pytest.fixture(scope="module")
def harness(settings: Settings, database_url: str) -> Iterator[Harness]:
    own = settings.model_copy(update={"rate_limit_points": 0})
    harness = Harness(own, database_url)
    harness.run(harness.start())
    try:
        yield harness
    finally:
        harness.run(harness.stop())
        harness.loop.close()


NAMES = st.sampled_from(["Buyer", "Owner", "Sponsor", "buyer"])
OPS = st.lists(st.one_of(
    st.tuples(st.just("create"), st.sampled_from(["ADMIN", "WRITE"]), NAMES),
    st.tuples(st.just("rename"), st.sampled_from(["ADMIN", "WRITE"]), st.integers(0, 3), NAMES),
    st.tuples(st.just("delete"), st.sampled_from(["ADMIN", "WRITE"]), st.integers(0, 3)),
    st.tuples(st.just("key"), st.just("ADMIN"), st.sampled_from(["ci", "etl"])),
), min_size=1, max_size=8)


@examples(max_examples=20, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_every_change_of_a_random_sequence_is_in_the_audit_log_with_its_actor(
    harness: Harness, ops: list[tuple[Any, ...]]
) -> None:
    async def example() -> None:
        tenant = await make_tenant(harness.db, f"Audit {uuid.uuid4().hex[:8]}")
        gql = harness.gql
        secrets = {"ADMIN": tenant.admin, "WRITE": tenant.write}
        ids = await key_ids(gql, tenant)
        roles: list[str] = []
        expected: list[tuple[str, str, tuple[str, ...]]] = []
        for op in ops:
            who = op[1]
            data: dict[str, Any]
            match op:
                case ("create", _, name):
                    data = (await gql.data(CREATE_ROLE, {"name": name},
                                           key=secrets[who]))["createRole"]
                    if not data["userErrors"]:
                        roles.append(data["role"]["id"])
                        expected.append((ids[who], "createRole", ()))
                case ("rename", _, index, name) if roles:
                    role = roles[index % len(roles)]
                    data = (await gql.data(RENAME_ROLE, {"id": role, "name": name},
                                           key=secrets[who]))["updateRole"]
                    if not data["userErrors"]:
                        expected.append((ids[who], "updateRole", (role,)))
                case ("delete", _, index) if roles:
                    role = roles.pop(index % len(roles))
                    data = (await gql.data(DELETE_ROLE, {"id": role},
                                           key=secrets[who]))["deleteRole"]
                    assert not data["userErrors"]
                    expected.append((ids[who], "deleteRole", (role,)))
                case ("key", _, name):
                    data = (await gql.data(
                        'mutation($n: String!) { createApiKey(input: {name: $n, scopes: [READ]}) '
                        '{ userErrors { code } } }', {"n": name}, key=tenant.admin))
                    assert not data["createApiKey"]["userErrors"]
                    expected.append((ids["ADMIN"], "createApiKey", ()))
        found = await entries(gql, tenant.admin)
        # Newest first; the tenant's creation (by the test's own code) comes first of all.
        seen = [(e["actorId"], e["kind"], tuple(e["subjects"])) for e in reversed(found)
                if e["actor"] != "cli"]
        assert seen == expected
        names = {e["actorId"]: e["actorName"] for e in found if e["actorId"]}
        assert all(names[ids[w]] == f"{w} key" for w in {who for who, _, _ in expected
                                                         if who in ids} if ids[w] in names)
        assert all(e["actor"].startswith("api_key.") for e in found if e["actorId"])

    harness.run(example())


# --- behaviour -----------------------------------------------------------------------------------

async def test_a_jobs_changes_are_one_entry_and_events_carry_their_actor(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    job = (await gql.data("{ buyingGroupJobs(first: 1) { nodes { id } } }",
                          key=tenant.read))["buyingGroupJobs"]["nodes"][0]
    found = await entries(gql, tenant.admin)
    ids = await key_ids(gql, tenant)
    by_job = [e for e in found if e["actorId"] == job["id"]]
    assert len(by_job) == 1
    assert by_job[0]["actor"].startswith("job.")
    assert by_job[0]["actorName"] == by_job[0]["kind"] == "CREATE"
    assert by_job[0]["events"] >= 2
    started = [e for e in found if e["kind"] == "createBuyingGroups"]
    assert [(e["actorId"], e["actorName"]) for e in started] == [(ids["WRITE"], "WRITE key")]
    assert cat["si"] in started[0]["subjects"] and cat["list"] in started[0]["subjects"]
    # Filtered by actor (its label or the key's global id), by kind, by time.
    mine = await entries(gql, tenant.admin, {"actor": ids["WRITE"]})
    assert mine and all(e["actorId"] == ids["WRITE"] for e in mine)
    assert await entries(gql, tenant.admin, {"actor": mine[0]["actor"]}) == mine
    assert [e["kind"] for e in await entries(gql, tenant.admin, {"kind": "createRoleTemplate"})] \
        == ["createRoleTemplate"]
    assert await entries(gql, tenant.admin, {"since": "2999-01-01T00:00:00Z"}) == []
    log = (await gql.data("""{ buyingGroupEventLog(first: 100) { nodes { kind actor } } }""",
                          key=tenant.read))["buyingGroupEventLog"]["nodes"]
    assert {e["actor"] for e in log if e["kind"] == "CREATED"} == {by_job[0]["actor"]}


async def test_the_audit_log_is_for_admins_and_pages_newest_first(
    gql: GraphQLClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    for name in ("One", "Two", "Three"):
        await gql.data(CREATE_ROLE, {"name": name}, key=tenant.write)
    refused = await gql(AUDIT, {"first": 5}, key=tenant.write)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    first = (await gql.data(AUDIT, {"first": 2}, key=tenant.admin))["auditLog"]
    assert first["pageInfo"]["hasNextPage"] and first["totalCount"] >= 3
    rest = (await gql.data(AUDIT, {"first": 100, "after": first["pageInfo"]["endCursor"]},
                           key=tenant.admin))["auditLog"]["nodes"]
    times = [e["at"] for e in first["nodes"] + rest]
    assert times == sorted(times, reverse=True)
    bad = await gql(AUDIT, {"first": 2, "after": "bm9wZQ=="}, key=tenant.admin)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    assert [e for e in await entries(gql, other_tenant.admin) if e["kind"] == "createRole"] == []


async def test_the_command_line_is_audited_as_cli(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, tmp_path: Path
) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("externalId,name\nX1,Example\n")
    done = run_cli(settings, "import", "accounts", str(path), "--tenant", str(tenant.id))
    assert done.returncode == 0, done.stderr
    made = run_cli(settings, "keys", "create", "ops", "--tenant", str(tenant.id),
                   "--scopes", "READ")
    assert made.returncode == 0, made.stderr
    cli = [(e["actor"], e["actorName"], e["kind"])
           for e in await entries(gql, tenant.admin, {"actor": "cli"})]
    assert cli[:2] == [("cli", "cli", "keys create"), ("cli", "cli", "import")]


async def test_entries_older_than_the_retention_are_deleted(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    await gql.data(CREATE_ROLE, {"name": "Kept"}, key=tenant.write)
    await gql.data(CREATE_ROLE, {"name": "Old"}, key=tenant.write)
    async with db.tenant(tenant.id) as conn:
        await conn.execute(
            "UPDATE audit_log SET at = now() - make_interval(days => $1) "
            "WHERE id = (SELECT min(id) FROM audit_log WHERE kind = 'createRole')",
            settings.audit_retention_days + 1)
    await retention({"settings": settings, "db": db})
    kinds = [e["kind"] for e in await entries(gql, tenant.admin)]
    assert kinds.count("createRole") == 1
