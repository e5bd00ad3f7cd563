"""Helpers and GraphQL operations several test modules share."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from hypothesis import assume
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry import relay

from service.app import create_app
from service.delivery.relay import EventRelay
from service.domain.conditions import (
    ACCOUNT_FIELDS,
    PERSON_FIELDS,
    ConditionGroup,
    Field,
    Operator,
    validate,
)
from service.domain.records import MAX_BATCH
from service.infra.auth import Scope
from service.infra.config import Settings
from service.infra.db import (
    APP_ROLE,
    Database,
    _init_connection,
    create_pool,
)
from service.infra.read_session import ReadSession
from service.infra.secrets import new_key
from service.store.conditions_sql import compile_sql
from service.store.sql import SqlParams
from service.usecases.tenants import create_tenant

# --- the harness: servers, tenants and their keys, the GraphQL client, jobs

ROOT = Path(__file__).resolve().parent.parent


RUN_ID = uuid.uuid4().hex[:8]


# The service in tests logs in as production's does: a role of its own that may only switch to
# the app and system roles (migrate grants them); the owner's URL is for set-up and checks.
SERVICE_LOGIN = "bg_test_service"


SERVICE_PASSWORD = "bg-test-service"


async def create_service_login(server_url: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        # Cluster-wide, and suites may run side by side.
        with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            await conn.execute(f"CREATE ROLE {SERVICE_LOGIN} LOGIN PASSWORD '{SERVICE_PASSWORD}'"
                               " NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
    finally:
        await conn.close()


SECRET_KEY = new_key()


@dataclass
class TenantKeys:
    id: uuid.UUID
    name: str
    admin: str
    write: str
    read: str


async def make_tenant(db: Database, name: str) -> TenantKeys:
    scopes = (Scope.ADMIN, Scope.WRITE, Scope.READ)
    tenant, keys = await create_tenant(db, name, keys=[(f"{s} key", frozenset({s}))
                                                       for s in scopes])
    return TenantKeys(tenant.id, name, *keys)


async def make_tenant_at(owner_url: str, name: str) -> TenantKeys:
    """A tenant with its keys in the database at `owner_url` (a scratch database's owner)."""
    pool = await create_pool(owner_url, min_size=1, max_size=1)
    try:
        return await make_tenant(Database(pool), name)
    finally:
        await pool.close()


async def end_unfinished_jobs(db: Database, tenant_id: uuid.UUID) -> None:
    """Workers take any tenant's next job (fairly): a job a test queued and never ran must not
    be run by a later test, under that test's settings."""
    async with db.as_login() as conn:
        await conn.execute("UPDATE jobs SET status = 'CANCELLED', finished_at = now() "
                           "WHERE tenant_id = $1 AND status IN ('QUEUED', 'RUNNING')", tenant_id)


class LoopHarness:
    """Apps driven on an event loop of their own: hypothesis runs its examples synchronously,
    and a module-scoped harness outlives each test's loop."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.settings = settings
        self.database_url = database_url

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(self, query: str, variables: dict[str, Any] | None = None, *,
                  key: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *,
                       key: str) -> dict[str, Any]:
        """The response body; fails the test on a non-200 answer."""
        response = await self.raw(query, variables, key=key)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, *,
                   key: str) -> dict[str, Any]:
        """The data of a response that must have no errors."""
        body = await self(query, variables, key=key)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data


async def run_jobs(settings: Settings) -> None:
    """Run the worker in this process until the queue is empty (arq's burst mode)."""
    from jobs.worker import build_worker

    assert settings.database_url and settings.redis_url
    worker = build_worker(settings, settings.database_url, settings.redis_url, burst=True,
                          handle_signals=False, crons=False)
    try:
        await worker.main()
    finally:
        await worker.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Scenario:
    """A connection with its own event loop for hypothesis tests (which run synchronously):
    each example builds its data in a transaction and rolls it back."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection[Any] = self.loop.run_until_complete(self._connect(url))

    async def _connect(self, url: str) -> asyncpg.Connection[Any]:
        conn = await asyncpg.connect(url)
        await _init_connection(conn)
        return conn

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def rolled_back(self, body: Callable[[asyncpg.Connection[Any]], Awaitable[Any]]) -> Any:
        """Run `body(conn)` inside a transaction that is rolled back; its result."""
        async def run() -> Any:
            transaction = self.conn.transaction()
            await transaction.start()
            try:
                return await body(self.conn)
            finally:
                await transaction.rollback()
        return self.run(run())

    @staticmethod
    async def new_tenant(conn: asyncpg.Connection[Any], name: str) -> uuid.UUID:
        """A seeded tenant, bound to the transaction as the app role sees it (RLS applies)."""
        tenant = uuid.uuid4()
        await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant, name)
        await conn.execute("SELECT seed_tenant($1)", tenant)
        await conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))
        return tenant

    def close(self) -> None:
        self.run(self.conn.close())
        self.loop.close()


@dataclass
class Listener:
    """A local TCP listener standing for a host of the attacker's: it records every request
    and answers like a broken server (HTTP 500)."""

    port: int
    received: list[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# --- accounts and people

UPSERT_ACCOUNTS = """
mutation($accounts: [AccountInput!]!) {
  upsertAccounts(input: {accounts: $accounts}) {
    accounts { id externalId name industry annualRevenue employeeCount attributes
               parent { externalId } }
    userErrors { field code message }
  }
}"""


UPSERT_PEOPLE = """
mutation($people: [PersonInput!]!) {
  upsertPeople(input: {people: $people}) {
    people { id externalId fullName email jobTitle account { externalId } }
    userErrors { field code message }
  }
}"""


async def upsert_accounts(gql: GraphQLClient, key: str, accounts: list[dict[str, Any]]
                          ) -> dict[str, Any]:
    result: dict[str, Any] = (await gql.data(UPSERT_ACCOUNTS, {"accounts": accounts},
                                             key=key))["upsertAccounts"]
    return result


async def upsert_people(gql: GraphQLClient, key: str, people: list[dict[str, Any]]
                        ) -> dict[str, Any]:
    result: dict[str, Any] = (await gql.data(UPSERT_PEOPLE, {"people": people},
                                             key=key))["upsertPeople"]
    return result



# --- roles and templates

ROLES = "{ roles(first: 50) { totalCount nodes { id name isDefault } } }"


CREATE_TEMPLATE = """mutation($input: CreateRoleTemplateInput!) {
 createRoleTemplate(input: $input) {
  roleTemplate { id name status roles { role { name } weighting weightingValue weightPercent
    membersRequired countsTowardCompleteness priority
    conditions { match rules { attribute operator values } } } }
  userErrors { field code message } } }"""


PUBLISH = """mutation($id: ID!) { publishRoleTemplate(input: {id: $id}) {
  roleTemplate { id status publishedAt } userErrors { field code message } } }"""


async def role_ids(gql: GraphQLClient, key: str) -> dict[str, str]:
    data = await gql.data(ROLES, key=key)
    return {r["name"]: r["id"] for r in data["roles"]["nodes"]}



# --- API keys

CREATE_KEY = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    apiKey { id name scopes prefix isRevoked }
    secret
    userErrors { field code message }
  }
}"""


REVOKE_KEY = """
mutation($id: ID!) {
  revokeApiKey(input: {id: $id}) { apiKey { id isRevoked revokedAt } userErrors { code } }
}"""



# --- buying groups

CREATE_SI = """mutation($input: CreateSolutionInterestInput!) {
  createSolutionInterest(input: $input) { solutionInterest { id } userErrors { code } } }"""


CREATE_LIST = """mutation($input: CreateAccountListInput!) {
  createAccountList(input: $input) { accountList { id } userErrors { code } } }"""


CREATE_GROUPS = """mutation($si: ID!, $list: ID!) {
  createBuyingGroups(input: {solutionInterestId: $si, accountListId: $list}) {
    job { id kind status } userErrors { field code } } }"""


JOB = """query($id: ID!) { node(id: $id) { ... on BuyingGroupJob { status kind error
  progress { total processed } buyingGroupsCreated buyingGroupsUpdated
  solutionInterest { name } } } }"""


GROUP_FIELDS = """id name status memberCount
  account { externalId } solutionInterest { name } roleTemplate { name }
  completeness { value display rolesFilled rolesTotal computedAt }
  engagement { value display }
  missingRoles { name }
  roles { role { name } memberCount isFilled membersRequired weightPercent
          members { person { externalId } source } }
  members(includeRemoved: true) { totalCount nodes { person { externalId } role { name }
          source isRemoved } }"""


GROUPS = "query($filter: BuyingGroupFilter) { buyingGroups(first: 40, filter: $filter) { " \
         "totalCount nodes { " + GROUP_FIELDS + " } } }"


ASSIGN = """mutation($group: ID!, $person: ID!, $role: ID!) {
  assignBuyingGroupMember(input: {buyingGroupId: $group, personId: $person, roleId: $role}) {
    buyingGroup { memberCount completeness { value rolesFilled } }
    member { source isRemoved role { name } } userErrors { field code } } }"""


REMOVE = """mutation($group: ID!, $person: ID!) {
  removeBuyingGroupMember(input: {buyingGroupId: $group, personId: $person}) {
    buyingGroup { memberCount completeness { value } }
    member { source isRemoved removedAt } userErrors { field code } } }"""


async def setup_catalogue(gql: GraphQLClient, key: str, accounts: int = 3) -> dict[str, Any]:
    """Accounts A0.. with a CEO, a VP, an engineer and an intern each; a template
    DM (CEO/CFO), Influencer (VP or CEO — second, so a CEO is DM), Practitioner (Engineer,
    2 required), Champion (no rules); a solution interest; a STATIC list of all accounts."""
    acc = await upsert_accounts(gql, key, [
        {"externalId": f"A{i}", "name": f"Account {i}"} for i in range(accounts)])
    people = []
    for i in range(accounts):
        people += [
            {"externalId": f"A{i}-ceo", "accountExternalId": f"A{i}", "jobTitle": "CEO"},
            {"externalId": f"A{i}-vp", "accountExternalId": f"A{i}", "jobTitle": "VP Sales"},
            {"externalId": f"A{i}-eng", "accountExternalId": f"A{i}",
             "jobTitle": "Software Engineer"},
            {"externalId": f"A{i}-intern", "accountExternalId": f"A{i}", "jobTitle": "Intern"},
        ]
    ppl: dict[str, Any] = {"people": []}
    for start in range(0, len(people), MAX_BATCH):  # a call's limit
        ppl["people"] += (await upsert_people(gql, key, people[start:start + MAX_BATCH]))[
            "people"]
    roles = await role_ids(gql, key)
    template = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "Std", "roles": [
        {"roleId": roles["Decision Maker"], "weighting": "VITAL", "conditions": {
            "match": "ANY", "rules": [{"attribute": "jobTitle", "operator": "EQUALS",
                                       "values": ["CEO", "CFO"]}]}},
        {"roleId": roles["Influencer"], "weighting": "IMPORTANT", "conditions": {
            "match": "ANY", "rules": [{"attribute": "jobTitle", "operator": "STARTS_WITH",
                                       "values": ["VP", "CEO"]}]}},
        {"roleId": roles["Practitioner"], "weighting": "NORMAL", "membersRequired": 2,
         "conditions": {"rules": [{"attribute": "jobTitle", "operator": "CONTAINS",
                                   "values": ["engineer"]}]}},
        {"roleId": roles["Champion"], "weighting": "MINOR"},
    ]}}, key=key))["createRoleTemplate"]["roleTemplate"]
    await gql.data(PUBLISH, {"id": template["id"]}, key=key)
    si = (await gql.data(CREATE_SI, {"input": {"name": "Cloud", "roleTemplateId": template["id"]}},
                         key=key))["createSolutionInterest"]["solutionInterest"]
    audience = (await gql.data(CREATE_LIST, {"input": {"name": "All", "kind": "STATIC",
        "accountIds": [a["id"] for a in acc["accounts"]]}}, key=key))["createAccountList"]
    return {"si": si["id"], "list": audience["accountList"]["id"], "roles": roles,
            "people": {p["externalId"]: p["id"] for p in ppl["people"]},
            "accounts": {a["externalId"]: a["id"] for a in acc["accounts"]}}


async def generate(gql: GraphQLClient, settings: Settings, key: str, si: str, audience: str
                   ) -> dict[str, Any]:
    job = (await gql.data(CREATE_GROUPS, {"si": si, "list": audience}, key=key))[
        "createBuyingGroups"]
    assert job["userErrors"] == [] and job["job"]["status"] == "QUEUED"
    await run_jobs(settings)
    result: dict[str, Any] = (await gql.data(JOB, {"id": job["job"]["id"]}, key=key))["node"]
    return result


async def maintain(gql: GraphQLClient, settings: Settings, tenant: TenantKeys, si: str
                   ) -> dict[str, Any]:
    """A MAINTAIN job of the solution interest, run: the job as the API shows it."""
    maintained = (await gql.data("""mutation($si: ID!) { maintainBuyingGroups(input:
        {solutionInterestId: $si}) { job { id } userErrors { code } } }""", {"si": si},
        key=tenant.write))["maintainBuyingGroups"]
    assert maintained["userErrors"] == []
    await run_jobs(settings)
    job: dict[str, Any] = (await gql.data(JOB, {"id": maintained["job"]["id"]},
                                          key=tenant.read))["node"]
    return job


async def one_generated_group(gql: GraphQLClient, settings: Settings, tenant: TenantKeys
                              ) -> tuple[dict[str, Any], str]:
    """setup_catalogue's catalogue for one account, its group generated; and the group's id."""
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    group = (await gql.data("{ buyingGroups(first: 1) { nodes { id } } }",
                            key=tenant.read))["buyingGroups"]["nodes"][0]["id"]
    return cat, str(group)


async def groups(gql: GraphQLClient, key: str, filter: dict[str, Any] | None = None
                 ) -> list[dict[str, Any]]:
    data = await gql.data(GROUPS, {"filter": filter}, key=key)
    nodes: list[dict[str, Any]] = data["buyingGroups"]["nodes"]
    return nodes



# --- a spread of groups to browse

async def spread(gql: GraphQLClient, settings: Settings, key: str) -> dict[str, Any]:
    """Four groups with completeness 62.5 (all), then lowered by removing members."""
    cat = await setup_catalogue(gql, key, accounts=4)
    await generate(gql, settings, key, cat["si"], cat["list"])
    found = {g["name"]: g["id"] for g in await groups(gql, key)}
    people = cat["people"]
    # Account 1 loses its CEO (DM missing): (0 + 1 + 0.5 + 0) / 4 = 37.5
    await gql.data(REMOVE, {"group": found["Cloud for Account 1"], "person": people["A1-ceo"]},
                   key=key)
    # Account 2 gains a champion: (1 + 1 + 0.5 + 1) / 4 = 87.5
    await gql.data(ASSIGN, {"group": found["Cloud for Account 2"], "person": people["A2-intern"],
                            "role": cat["roles"]["Champion"]}, key=key)
    # Account 3 loses CEO and VP: (0 + 0 + 0.5 + 0) / 4 = 12.5
    for who in ("A3-ceo", "A3-vp"):
        await gql.data(REMOVE, {"group": found["Cloud for Account 3"], "person": people[who]},
                       key=key)
    return {**cat, "groups": found}



# --- the activity simulator and syncs

VISIT, DOWNLOAD, CLICK = 1, 4, 8  # the simulator's ids for these types


SYNC = "mutation { syncActivities { job { id status } userErrors { code } } }"


STATE = """{ activitySync { lastRunAt lastSuccessAt cursorAt activitiesIngested lastError
  source { baseUrl clientId hasClientSecret } } }"""


async def use_simulator(gql: GraphQLClient, tenant: TenantKeys, url: str,
                        secret: str = "demo-secret", type_ids: list[int] | None = None,
                        check: bool = True) -> None:
    """The simulator as the tenant's source; `check=False` saves credentials the simulator
    would refuse (its secret is demo-secret)."""
    done = await gql.data("""mutation($url: String!, $secret: String, $types: [Int!],
                                    $check: Boolean!) {
      configureActivitySource(input: {baseUrl: $url, clientId: "demo-client",
                                      clientSecret: $secret, activityTypeIds: $types,
                                      check: $check}) {
        activitySync { source { baseUrl hasClientSecret } } userErrors { code } } }""",
                          {"url": url, "secret": secret, "types": type_ids, "check": check},
                          key=tenant.admin)
    assert done["configureActivitySource"]["userErrors"] == []
    assert done["configureActivitySource"]["activitySync"]["source"]["hasClientSecret"]


async def sim(url: str, path: str, body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(path, json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


async def stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        result: dict[str, Any] = (await client.get("/_sim/stats")).json()
        return result


async def source_with_visits(gql: GraphQLClient, tenant: TenantKeys, simulator: str,
                             count: int, *, day: int, leads: int) -> None:
    """The simulator, reset, as the tenant's source, holding `count` Visit Webpage activities of
    `leads` people, `day` days from today."""
    await sim(simulator, "/_sim/config", {"reset": True})
    await use_simulator(gql, tenant, simulator)
    tag = uuid.uuid4().hex[:6]
    await sim(simulator, "/_sim/activities", [
        {"leadId": f"V{i % leads}-{tag}", "activityTypeId": VISIT, "activityDate": at(day, i)}
        for i in range(count)])


async def sync(gql: GraphQLClient, settings: Settings, key: str) -> dict[str, Any]:
    job = (await gql.data(SYNC, key=key))["syncActivities"]["job"]
    await run_jobs(settings)
    result: dict[str, Any] = (await gql.data(JOB, {"id": job["id"]}, key=key))["node"]
    return result


async def synced_activity(gql: GraphQLClient, settings: Settings, tenant: TenantKeys,
                          simulator: str, activities: list[dict[str, Any]]) -> None:
    """The simulator, reset, as the tenant's source holding exactly `activities`, synced."""
    await sim(simulator, "/_sim/config", {"reset": True})
    await use_simulator(gql, tenant, simulator)
    await sim(simulator, "/_sim/activities", activities)
    synced = await sync(gql, settings, tenant.write)
    assert synced["status"] == "SUCCEEDED", synced


def at(day_offset: int, second: int = 0) -> str:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    moment = today + timedelta(days=day_offset, seconds=second)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")



# --- a database of a test's own

@asynccontextmanager
async def scratch_database(servers: Any, migrations: Path | None = None
                           ) -> AsyncIterator[tuple[str, str]]:
    """A new database migrated (from `migrations`, this release's when left out), dropped
    afterwards: the owner's URL and the service's login's."""
    from service.dev.embedded import with_database, with_login
    from service.infra.db import drop_database, ensure_database
    from service.infra.migrate import MIGRATIONS_DIR, migrate

    assert servers.database_url
    name = f"bg_own_{uuid.uuid4().hex[:8]}"
    await ensure_database(servers.database_url, name)
    owner = with_database(servers.database_url, name)
    try:
        await migrate(owner, migrations or MIGRATIONS_DIR, service_login=SERVICE_LOGIN)
        yield owner, with_login(owner, SERVICE_LOGIN, SERVICE_PASSWORD)
    finally:
        await drop_database(servers.database_url, name)


# --- an app with its own settings

@asynccontextmanager
async def app_with(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=changes))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=60) as client:
            yield client




def global_id(type_name: str, node_id: uuid.UUID | str) -> str:
    """The API's global id of a node (base64 of "Type:uuid")."""
    return str(relay.GlobalID(type_name, str(node_id)))



# --- stage models

CREATE_MODEL = """mutation($input: CreateStageModelInput!) { createStageModel(input: $input) {
  stageModel { id status stages { id key name kind transitionsTo nextStages { key } } }
  userErrors { field code message } } }"""
PUBLISH_MODEL = """mutation($id: ID!) { publishStageModel(input: {id: $id}) {
  stageModel { id status } userErrors { field code message } } }"""
FUNNEL: list[dict[str, Any]] = [
    {"key": "new", "name": "New", "kind": "ENTRY", "transitionsTo": ["engaged", "lost"]},
    {"key": "engaged", "name": "Engaged", "kind": "INTERMEDIATE",
     "transitionsTo": ["won", "lost"]},
    {"key": "won", "name": "Won", "kind": "SUCCESS"},
    {"key": "lost", "name": "Lost", "kind": "FAILURE", "transitionsTo": ["resurgence"]},
    {"key": "resurgence", "name": "Resurgence", "kind": "INTERMEDIATE",
     "transitionsTo": ["engaged", "lost"]},
]


async def live_model(gql: GraphQLClient, key: str, stages: list[dict[str, Any]] = FUNNEL,
                     name: str = "Funnel") -> dict[str, Any]:
    made = (await gql.data(CREATE_MODEL, {"input": {"name": name, "stages": stages}},
                           key=key))["createStageModel"]
    assert made["userErrors"] == [], made
    published = (await gql.data(PUBLISH_MODEL, {"id": made["stageModel"]["id"]}, key=key))
    assert published["publishStageModel"]["userErrors"] == []
    model: dict[str, Any] = made["stageModel"]
    return model


async def groups_with_stages(gql: GraphQLClient, settings: Settings, key: str,
                             stages: list[dict[str, Any]] = FUNNEL
                             ) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]]]:
    model = await live_model(gql, key, stages)
    cat = await setup_catalogue(gql, key, accounts=2)
    template = (await gql.data("query($id: ID!) { node(id: $id) { ... on SolutionInterest { "
                               "roleTemplate { id } } } }", {"id": cat["si"]}, key=key))
    si = (await gql.data("""mutation($t: ID!, $m: ID!) { createSolutionInterest(input:
        {name: "Staged", roleTemplateId: $t, stageModelId: $m}) {
        solutionInterest { id stageModel { name } } userErrors { code } } }""",
        {"t": template["node"]["roleTemplate"]["id"], "m": model["id"]}, key=key))
    si_id = si["createSolutionInterest"]["solutionInterest"]["id"]
    await gql.data(CREATE_GROUPS, {"si": si_id, "list": cat["list"]}, key=key)
    await run_jobs(settings)
    groups = (await gql.data("""query($si: ID!) { buyingGroups(filter: {solutionInterestIds:
        [$si]}) { nodes { id stage { key } stageHistory { from { key } to { key } by } } } }""",
        {"si": si_id}, key=key))["buyingGroups"]["nodes"]
    return model, {s["key"]: s["id"] for s in model["stages"]}, groups


# --- the command line

def database_env(settings: Settings) -> dict[str, str]:
    """The database settings of a process of the service (through PgBouncer too: the suite's
    run with THROUGH_PGBOUNCER)."""
    env = {"DATABASE_URL": str(settings.database_url),
           "DB_STATEMENT_CACHE_SIZE": str(settings.db_statement_cache_size)}
    if settings.database_listen_url:
        env["DATABASE_LISTEN_URL"] = settings.database_listen_url
    return env


def run_cli(settings: Settings, *args: str, **more: str) -> subprocess.CompletedProcess[str]:
    """`buying-groups ARGS` on the tests' database and Redis; its outcome, never raising."""
    env = {**os.environ, **database_env(settings),
           "REDIS_URL": str(settings.redis_url), "LOG_LEVEL": "WARNING", **more}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


# --- a real worker process

def start_worker(settings: Settings, **env: str) -> subprocess.Popen[bytes]:
    """The real worker (`buying-groups worker`) as its own process, on the tests' queue, with a
    short job lease and a sweeper every second so a dead worker's job is taken up quickly;
    `env` adds or overrides settings (JOB_MAX_ATTEMPTS="2")."""
    assert settings.database_url and settings.redis_url
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker"],
        env={**os.environ, **database_env(settings),
             "REDIS_URL": settings.redis_url, "QUEUE_NAME": settings.queue_name,
             "JOB_LEASE_SECONDS": "5", "SWEEPER_INTERVAL_SECONDS": "1",
             "ACTIVITY_SYNC_AT_START": "false",
             "ACTIVITY_API_BACKOFF_SECONDS": "0.01", "LOG_LEVEL": "WARNING",
             "JOB_RETRY_BASE_SECONDS": "0.01", "JOB_RETRY_MAX_SECONDS": "0.05",
             "OUTBOUND_ALLOWED_HOSTS": settings.outbound_allowed_hosts,
             "SECRET_KEY": settings.secret_key or "",
             "DATA_DIR": str(settings.data_dir), **env})


# --- API processes, the event log and webhooks

def start_api(settings: Settings, count: int, *, log: Any = None, **env: str
              ) -> tuple[list[str], list[subprocess.Popen[bytes]]]:
    """API processes on the test database and Redis, once they answer /readyz; `log`: a file
    their standard error goes to."""
    environment = {**os.environ, **database_env(settings),
                   "REDIS_URL": str(settings.redis_url), "QUEUE_NAME": settings.queue_name,
                   "LOG_LEVEL": "WARNING", "RESPONSE_CACHE": "false",
                   "AUTH_CACHE_SECONDS": "0", **env}
    ports = [free_port() for _ in range(count)]
    processes = [subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port",
                                   str(p)], env=environment, stderr=log) for p in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    for url in urls:
        if not answering(url):
            stop(processes)
            raise RuntimeError(f"{url} did not start")
    return urls, processes


def answering(url: str, path: str = "/readyz", *, seconds: float = 10,
              process: subprocess.Popen[bytes] | None = None) -> bool:
    """Whether `url` answers `path` with 200 within `seconds` (polled every 0.1 s); False at
    once if `process`, the server, exits meanwhile."""
    for _ in range(round(seconds * 10)):
        try:
            if httpx.get(f"{url}{path}").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


async def commit_events(db: Database, tenant_id: Any, values: list[str]) -> None:
    """STATUS_CHANGED events committed to the tenant's log, as a change would (the API
    processes' relays publish them)."""
    import uuid

    from service.events import changes as events

    async with db.tenant(tenant_id) as conn:
        await events.record(conn, tenant_id, [events.Event.of(
            events.EventKind.STATUS_CHANGED, tenant_id, uuid.uuid4(), new_value=value)
            for value in values])


CREATE_WEBHOOK = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    signingSecret webhookEndpoint { id url kinds status } userErrors { field code message } } }"""


async def create_endpoint(gql: GraphQLClient, tenant: TenantKeys, url: str,
                          **extra: Any) -> tuple[str, str]:
    done = (await gql.data(CREATE_WEBHOOK, {"input": {"url": url, **extra}},
                           key=tenant.admin))["createWebhookEndpoint"]
    assert done["userErrors"] == [], done
    assert done["signingSecret"].startswith("whsec_")
    return done["webhookEndpoint"]["id"], done["signingSecret"]


def statements_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every statement requests' read sessions send from now on, in order (the
    list grows as they are sent; clear it between requests)."""
    sent: list[str] = []
    counting = ReadSession._count

    def count(session: ReadSession, record: Any) -> None:
        sent.append(record.query)
        counting(session, record)

    monkeypatch.setattr(ReadSession, "_count", count)
    return sent


class Explaining:
    """A connection that asks PostgreSQL for the plan of each statement that returns rows (its
    JSON plan, in `plans`), then runs it: what a store function's statements are planned as,
    with the statistics the tables have."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.plans = conn, list[dict[str, Any]]()

    async def _explain(self, sql: str, args: tuple[Any, ...]) -> None:
        self.plans.append((await self.conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))[0])

    async def fetch(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self.conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self.conn.fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self.conn.execute(sql, *args)


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan's nodes (of an EXPLAIN (FORMAT JSON) answer, or a node), depth first."""
    node = plan.get("Plan", plan)
    return [node, *(n for child in node.get("Plans", []) for n in plan_nodes(child))]


def scans_of(plan: dict[str, Any], table: str) -> list[str]:
    """How the plan reads `table`: the node types, in order."""
    return [n["Node Type"] for n in plan_nodes(plan) if n.get("Relation Name") == table]


# --- conditions: random rules and records, and a row evaluated in PostgreSQL

ALPHABET = "aAbBéÉöÖ 1.-%_\\"  # with % _ and \\, which LIKE patterns escape


short_text = st.text(alphabet=ALPHABET, max_size=4)


number_text = st.sampled_from(["0", "1", "-1", "1.5", " 2 ", "10", ".5", "1e2", "abc", ""])


json_value = st.one_of(st.none(), short_text, number_text, st.integers(-3, 3), st.booleans())


def rules_for(fields: Mapping[str, Field]) -> st.SearchStrategy[tuple[str, str, list[str]]]:
    attribute = st.sampled_from([*fields, "attributes.k", "attributes.n"])
    operator = st.sampled_from(list(Operator.__members__))
    values = st.lists(st.one_of(short_text, number_text), max_size=3)
    return st.tuples(attribute, operator, values)


def groups_for(fields: Mapping[str, Field]) -> st.SearchStrategy[ConditionGroup]:
    raw = st.tuples(st.sampled_from(["ALL", "ANY"]), st.lists(rules_for(fields), max_size=4))

    def build(item: tuple[str, list[tuple[str, str, list[str]]]]) -> ConditionGroup:
        built, _ = validate(item[0], item[1], fields)
        assume(built is not None)
        assert built is not None
        return built

    return raw.map(build)


person_records = st.fixed_dictionaries(
    {name: st.one_of(st.none(), short_text, number_text) for name in PERSON_FIELDS},
    optional={"attributes": st.dictionaries(st.sampled_from(["k", "n"]), json_value)},
)


account_records = st.fixed_dictionaries(
    {
        **{n: st.one_of(st.none(), short_text, number_text)
           for n, f in ACCOUNT_FIELDS.items() if f.kind == "TEXT"},
        "annualRevenue": st.one_of(st.none(), st.decimals(-5, 5, places=1)),
        "employeeCount": st.one_of(st.none(), st.integers(-3, 200)),
    },
    optional={"attributes": st.dictionaries(st.sampled_from(["k", "n"]), json_value)},
)


class SqlEvaluator:
    """Evaluates compiled conditions in PostgreSQL on one row built from parameters."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection[Any] = self.loop.run_until_complete(asyncpg.connect(url))

    @staticmethod
    def row(record: Mapping[str, Any], fields: Mapping[str, Field], params: SqlParams) -> str:
        """The record as a one-row subquery `r` with the columns the compiled SQL reads."""
        import json

        columns = []
        for name, field in fields.items():
            sql_type = "numeric" if field.kind == "NUMBER" else "text"
            columns.append(f"{params.add(record.get(name))}::{sql_type} AS {field.column}")
        columns.append(f"{params.add(json.dumps(record.get('attributes') or {}))}::jsonb "
                       "AS attributes")
        return f"(SELECT {', '.join(columns)}) r"

    def evaluate(self, built: ConditionGroup, record: Mapping[str, Any],
                 fields: Mapping[str, Field]) -> bool:
        params = SqlParams()
        row = self.row(record, fields, params)
        condition = compile_sql(built, fields, "r", params)
        query = f"SELECT {condition} FROM {row}"
        result = self.loop.run_until_complete(self.conn.fetchval(query, *params.values))
        assert result is not None, "a compiled condition is never NULL"
        return bool(result)

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


# --- a partner's webhook receiver

@dataclass
class Receiver:
    """A partner's endpoint on 127.0.0.1: answers each POST with the next status planned
    (200 once the plan runs out) and keeps what it received."""
    url: str
    plan: list[int] = dataclass_field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = dataclass_field(default_factory=list)
    answer: bytes = b""  # the body of every answer


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    got = Receiver(f"http://127.0.0.1:{port}/hook")

    async def hook(request: Request) -> Response:
        got.received.append((dict(request.headers), await request.body()))
        return Response(got.answer, status_code=got.plan.pop(0) if got.plan else 200)

    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/hook", hook,
                                                                   methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield got
    finally:
        server.should_exit = True
        await task


async def relayed(db: Database, redis: Any, settings: Settings, tenant: TenantKeys) -> None:
    """Publish and queue what the tenant committed, now (the app's relay may beat us to it;
    they take turns)."""
    assert settings.database_url
    await EventRelay(db, redis, settings.database_url).relay(tenant.id)


async def deliver_due(db: Database, settings: Settings) -> int:
    """One pass of a webhook sender over what is due, as the worker's makes; how many sent."""
    from service.delivery.webhooks import WebhookSender

    sender = WebhookSender(db, settings)
    try:
        return await sender.deliver_due()
    finally:
        await sender.stop()
