"""Generated documents: hypothesis-graphql builds queries and mutations from the exported schema,
with our scalars drawn from real ids and cursors of a demo tenant and from hostile values (NUL
and other control characters, huge and tiny numbers, extreme DateTimes, forged ids and cursors).
Every answer must be HTTP 200 (or a 4xx with the JSON error shape) and every error must carry a
code that is not INTERNAL_SERVER_ERROR.

`make test` runs a few hundred examples, the same ones every run (derandomized), so the suite
stays deterministic; `make fuzz` runs thousands with fresh randomness (FUZZ_EXAMPLES)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from arq.constants import job_key_prefix
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from hypothesis_graphql import strategies as gql_st

import graphql
from service.app import create_app
from service.dev.demo import load_demo
from service.infra.auth import Scope
from service.infra.config import Settings
from service.infra.db import Database, create_pool
from service.infra.queue import connect as connect_queue
from service.store.activities import ensure_partitions, ingest_page, month_start
from service.store.api_keys import create_api_key
from service.usecases.tenants import create_tenant
from service.usecases.unit_of_work import CLI, unit_of_work
from tests.support import ROOT

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
RANDOM = os.environ.get("FUZZ_RANDOM", "") not in ("", "0")
REPORT = ROOT / ".data" / "fuzz-failures.txt"

# Mutations that make the service call out to an address from the input: generated hosts
# must never be dialled (tests talk to loopback only, and only to our own listeners).
OUTBOUND = {"configureActivitySource"}

SCHEMA = graphql.build_schema((ROOT / "graphql" / "schema.graphql").read_text())
MUTATIONS = sorted(set(SCHEMA.mutation_type.fields) - OUTBOUND) if SCHEMA.mutation_type else []

# Node type -> the table holding its rows (tenant_id, id).
TABLES = {
    "Account": "accounts", "Person": "people", "AccountList": "account_lists", "Role": "roles",
    "RoleTemplate": "role_templates", "SolutionInterest": "solution_interests",
    "ActivityType": "activity_types", "ScoringModel": "scoring_models",
    "BuyingGroup": "buying_groups", "StageModel": "stage_models", "Stage": "stages",
    "BuyingGroupJob": "jobs", "ApiKey": "api_keys",
}

CURSORS = """{
  accounts(first: 2) { edges { cursor node { children(first: 1) { edges { cursor } } } } }
  people(first: 2) { edges { cursor } }
  buyingGroups(first: 2) { edges { cursor node { stageHistory { at } } } }
  high: buyingGroups(first: 2, orderBy: {field: ENGAGEMENT_SCORE, direction: DESC}) {
    edges { cursor } }
  buyingGroupJobs(first: 2) { edges { cursor } }
  accountLists(first: 2) { edges { cursor } }
  stageModels(first: 2) { edges { cursor } }
  roles(first: 2) { edges { cursor } }
  roleTemplates(first: 2) { edges { cursor } }
  solutionInterests(first: 2) { edges { cursor } }
  activityTypes(first: 2) { edges { cursor } }
  scoringModels(first: 2) { edges { cursor } }
  apiKeys(first: 2) { edges { cursor } }
}"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _cursors(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "cursor" and isinstance(item, str):
                yield item
            else:
                yield from _cursors(item)
    elif isinstance(value, list):
        for item in value:
            yield from _cursors(item)


@dataclass
class Target:
    """The app on its own event loop (hypothesis runs examples synchronously) with a tenant full
    of demo data; keys are replaced when a generated revokeApiKey hits one in use."""

    settings: Settings
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    ids: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    keys: dict[Scope, str] = field(default_factory=dict)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def start(self) -> None:
        assert self.settings.database_url
        self.pool = await create_pool(self.settings.database_url, min_size=1, max_size=2)
        self.db = Database(self.pool)
        self.tenant = (await create_tenant(self.db, f"Fuzz {uuid.uuid4().hex[:6]}"))[0].id
        now = datetime.now(UTC)
        async with self.db.system() as conn:
            await ensure_partitions(conn, {month_start(now.date())}, month_start(now.date()))
        async with unit_of_work(self.db, self.tenant, CLI) as work:
            await load_demo(work)
            await self._activities(work.conn)
        await self.new_keys()
        self.manager = LifespanManager(create_app(self.settings))
        await self.manager.__aenter__()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.manager.app),
                                      base_url="http://testserver")
        self.resident = asyncio.all_tasks()  # the app's own: lifespan, event broker
        async with self.db.tenant(self.tenant) as conn:
            for type_name, table in TABLES.items():
                rows = await conn.fetch(
                    f"SELECT id FROM {table} WHERE tenant_id = $1 ORDER BY id LIMIT 6",
                    self.tenant)
                self.ids += [_b64(f"{type_name}:{r['id']}") for r in rows]
            self.ids.append(_b64(f"Tenant:{self.tenant}"))
            self.words += [r["external_id"] for r in await conn.fetch(
                "SELECT external_id FROM accounts WHERE tenant_id = $1 LIMIT 5", self.tenant)]
        body = (await self.post(CURSORS, self.keys[Scope.ADMIN])).json()
        assert not body.get("errors"), body
        self.cursors = sorted(set(_cursors(body["data"])))

    async def _activities(self, conn: Any) -> None:
        leads = await conn.fetch("SELECT external_id FROM people WHERE tenant_id = $1 "
                                 "ORDER BY external_id LIMIT 5", self.tenant)
        now = datetime.now(UTC)
        await ingest_page(conn, self.tenant, [
            {"id": f"{i}", "activityDate": (now - timedelta(minutes=i)).isoformat(),
             "leadId": lead["external_id"], "activityTypeId": 1,
             "primaryAttributeValue": "Visit", "attributes": []}
            for i, lead in enumerate(leads)])

    async def new_keys(self) -> None:
        async with self.db.tenant(self.tenant) as conn:
            for scope in (Scope.ADMIN, Scope.READ):
                _, self.keys[scope] = await create_api_key(conn, self.tenant, "fuzz", {scope})

    async def post(self, document: str, key: str) -> httpx.Response:
        return await self.http.post("/graphql", json={"query": document},
                                    headers={"Authorization": f"Bearer {key}"})

    async def settle(self) -> None:
        """Wait for what requests left running: graphql-core settles the resolvers of fields
        abandoned by an error in the background, after the response."""
        me = asyncio.current_task()
        for _ in range(100):
            left = [t for t in asyncio.all_tasks() if t is not me and t not in self.resident]
            if not left:
                return
            await asyncio.wait(left, timeout=0.1)

    async def stop(self) -> None:
        if hasattr(self, "resident"):
            await self.settle()
        if hasattr(self, "http"):
            await self.http.aclose()
        if hasattr(self, "manager"):
            await self.manager.__aexit__(None, None, None)
        if not hasattr(self, "pool"):
            return
        async with self.db.system() as conn:
            # Generated mutations queued jobs on this app's own queue: nothing may run them.
            jobs = await conn.fetch("UPDATE jobs SET status = 'CANCELLED' WHERE tenant_id = $1 "
                                    "AND status IN ('QUEUED', 'RUNNING') RETURNING id",
                                    self.tenant)
        assert self.settings.redis_url
        redis = await connect_queue(self.settings.redis_url)
        await redis.delete(self.settings.queue_name,
                           *(f"{job_key_prefix}{job['id']}" for job in jobs))
        await redis.aclose()
        await self.pool.close()


async def cancel_the_rest() -> None:
    me = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not me]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


@pytest.fixture(scope="module")
def target(settings: Settings) -> Iterator[Target]:
    # Throttling off: thousands of documents from one key would soon all be answered 429.
    own = settings.model_copy(update={"queue_name": f"{settings.queue_name}:fuzz",
                                      "rate_limit_points": 0})
    target = Target(own)
    try:
        target.run(target.start())
        yield target
    finally:
        target.run(target.stop())
        # As asyncio.run ends: what is left is cancelled and awaited, so no coroutine of this
        # loop is dropped unawaited later, in another test.
        target.run(cancel_the_rest())
        target.run(target.loop.shutdown_asyncgens())
        target.loop.close()


# --- our scalars -------------------------------------------------------------------------

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14)),
                           timezone(timedelta(hours=5, minutes=30))])
# Text PostgreSQL refuses (NUL) or that tends to break parsers and logs.
HOSTILE_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp"])),
    st.sampled_from(["\x00", "a\x00b", "%", "_", "\\", "'", "' OR 1=1 --", "\u2028", "é" * 300]),
)
EXTREME_DATETIMES = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                 timezones=OFFSETS),
    st.sampled_from([datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
                     datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
                     datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59,
                                                             tzinfo=UTC)]),
).map(datetime.isoformat)
DATETIMES = st.one_of(EXTREME_DATETIMES, st.datetimes().map(datetime.isoformat), HOSTILE_TEXT)
DATES = st.one_of(st.dates().map(date.isoformat),
                  st.sampled_from(["0001-01-01", "9999-12-31"]), HOSTILE_TEXT)
BIG_INTS = st.one_of(st.integers(), st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64,
                                                     -(2**63), -(2**63) - 1, 10**40]))
FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([1e308, -1e308, 5e-324, 1.7976931348623157e308]))


def json_values() -> st.SearchStrategy[graphql.ValueNode]:
    """JSON literals; object keys are GraphQL names, so hostile keys travel as variables in
    the regression tests instead."""
    leaves = st.one_of(
        BIG_INTS.map(nodes.Int), FLOATS.map(nodes.Float), HOSTILE_TEXT.map(nodes.String),
        st.booleans().map(nodes.Boolean), st.just(nodes.Null),
        st.sampled_from(["x"]).map(nodes.Enum),
    )
    names = st.from_regex(r"\A[_A-Za-z][_0-9A-Za-z]{0,8}\Z")

    # A named function: hypothesis reads an extend function's source to check it recurses,
    # which fails for a lambda spread over lines.
    def containers(children: st.SearchStrategy[graphql.ValueNode]
                   ) -> st.SearchStrategy[graphql.ValueNode]:
        return st.one_of(st.lists(children, max_size=4).map(nodes.List),
                         st.dictionaries(names, children, max_size=4).map(_object))

    return st.recursive(leaves, containers, max_leaves=12)


def entry_rules() -> st.SearchStrategy[graphql.ValueNode]:
    """Stage entry rules: mostly rule-shaped objects with wrong parts, some anything at all."""
    condition = st.fixed_dictionaries({}, optional={
        "metric": st.sampled_from(["ENGAGEMENT", "COMPLETENESS", "x", ""]).map(nodes.String),
        "operator": st.sampled_from(["GTE", "LTE", "EQ", "x"]).map(nodes.String),
        "value": st.one_of(BIG_INTS.map(nodes.Int), FLOATS.map(nodes.Float),
                           HOSTILE_TEXT.map(nodes.String), st.just(nodes.Null)),
    }).map(_object)
    rule = st.fixed_dictionaries({}, optional={
        "match": st.sampled_from(["ALL", "ANY", "x"]).map(nodes.String),
        "conditions": st.one_of(st.lists(st.one_of(condition, json_values()), max_size=3)
                                .map(nodes.List), json_values()),
    }).map(_object)
    return st.one_of(rule, json_values())


def _object(fields: Mapping[str, graphql.ValueNode]) -> graphql.ValueNode:
    return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
                         for k, v in fields.items()])


def mostly(plausible: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
           ) -> st.SearchStrategy[Any]:
    """Plausible values three times in four: a document whose every argument is hostile
    stops at the first one and never reaches the code behind it."""
    return st.integers(0, 3).flatmap(lambda n: hostile if n == 0 else plausible)


def scalars(target: Target) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    type_names = st.sampled_from([*TABLES, "Tenant", "Node", "Query", "Foo", "", "Account "])
    forged_ids = st.one_of(
        st.tuples(type_names, st.one_of(st.uuids().map(str), HOSTILE_TEXT))
        .map(lambda t: _b64(f"{t[0]}:{t[1]}")),
        st.sampled_from(["x", ":", "%%%", _b64(":"), _b64("Node:x"), _b64("Query:x")]),
        HOSTILE_TEXT,
    )
    cursor_parts = st.lists(st.one_of(
        HOSTILE_TEXT, EXTREME_DATETIMES, BIG_INTS, FLOATS, st.none(), st.uuids().map(str),
        st.booleans()), max_size=4)
    forged_cursors = cursor_parts.map(
        lambda parts: base64.urlsafe_b64encode(json.dumps(parts).encode()).decode())
    plain_text = st.one_of(st.sampled_from(target.cursors + target.words),
                           st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABC-_0123456789",
                                   max_size=20))
    recent = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                          timezones=OFFSETS).map(datetime.isoformat)
    return {
        "ID": mostly(st.sampled_from(target.ids), forged_ids).map(nodes.String),
        "String": mostly(plain_text, st.one_of(HOSTILE_TEXT, forged_cursors)).map(nodes.String),
        "Int": mostly(st.integers(0, 120), st.one_of(
            st.integers(-(2**31), 2**31 - 1), BIG_INTS)).map(nodes.Int),
        "Float": mostly(st.floats(0, 100), FLOATS).map(nodes.Float),
        "DateTime": mostly(recent, DATETIMES).map(nodes.String),
        "Date": mostly(st.dates(date(2020, 1, 1), date(2030, 1, 1)).map(date.isoformat),
                       DATES).map(nodes.String),
        "JSON": st.one_of(entry_rules(), json_values()),
    }


def problems(response: httpx.Response) -> list[str]:
    """What is wrong with an answer; empty when it is a proper success or client error."""
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:500]}"]
    try:
        body = response.json()
    except ValueError:
        return [f"HTTP {response.status_code} with a body that is not JSON: {response.text[:200]}"]
    found = []
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code is None:
            found.append(f"error without a code: {error}")
        elif code == "INTERNAL_SERVER_ERROR":
            found.append(f"internal error: {error}")
    return found


def test_no_generated_document_gets_an_internal_error(target: Target) -> None:
    custom = scalars(target)
    documents = st.one_of(
        gql_st.queries(SCHEMA, custom_scalars=custom),
        gql_st.mutations(SCHEMA, fields=MUTATIONS, custom_scalars=custom),
    )
    failures: list[str] = []
    tally: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM,
              database=None, suppress_health_check=list(HealthCheck))
    @given(document=documents, admin=st.integers(0, 3).map(bool))
    def check(document: str, admin: bool) -> None:
        key = target.keys[Scope.ADMIN if admin else Scope.READ]
        response = target.run(target.post(document, key))
        if response.status_code == 401:  # a generated revokeApiKey took a key of ours
            target.run(target.new_keys())
            return
        found = problems(response)
        tally["failed" if found else "errors" if '"errors":' in response.text else "data"] += 1
        if RANDOM:  # a fuzzing run reports every failure rather than stopping at the first
            failures.extend(f"{document}\n" + "\n".join(found) for _ in found[:1])
            return
        assert not found, f"{document}\n" + "\n".join(found)

    check()
    if RANDOM:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text("\n=====\n".join(failures))
        print(f"\nfuzz: {sum(tally.values())} documents ({tally['data']} answered without "
              f"errors, {tally['errors']} with client errors), {len(failures)} failures"
              + (f"; see {REPORT}" if failures else ""))
    assert not failures, f"{len(failures)} failures, the first:\n{failures[0]}"


def test_compiled_selections_answer_as_graphql_core_does(target: Target) -> None:
    """Generated queries, answered by an app whose selections run as compiled plans and by one
    where graphql-core executes every field: the same data, key order included, and the same
    errors (api/compiled.py gives up to graphql-core wherever it could differ)."""
    custom = scalars(target)
    # Reads take turns on the request's connection: side by side, which of two failing root
    # fields ends first (and whose error nulls the answer) would be a matter of timing.
    plain = {"response_cache": False, "rate_limit_points": 0, "db_reads_beside": 0}
    apps: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def start(compiled: bool) -> None:
        manager = LifespanManager(create_app(target.settings.model_copy(
            update={**plain, "compiled_execution": compiled})))
        await manager.__aenter__()
        apps.append(manager)
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                         base_url="http://testserver"))

    for compiled in (True, False):
        target.run(start(compiled))
    tally: Counter[str] = Counter()

    async def answers(document: str) -> list[Any]:
        found = []
        for client in clients:
            response = await client.post("/graphql", json={"query": document}, headers={
                "Authorization": f"Bearer {target.keys[Scope.READ]}"})
            body = response.json()
            errors = [(e.get("message"), e.get("path"), (e.get("extensions") or {}).get("code"))
                      for e in body.get("errors") or []]
            found.append((response.status_code, json.dumps(body.get("data")), errors))
        return found

    @settings(max_examples=EXAMPLES // 2, deadline=None, derandomize=not RANDOM,
              database=None, suppress_health_check=list(HealthCheck))
    @given(document=gql_st.queries(SCHEMA, custom_scalars=custom))
    def check(document: str) -> None:
        compiled, interpreted = target.run(answers(document))
        tally["errors" if compiled[2] else "data"] += 1
        assert compiled == interpreted, document

    try:
        check()
        # The documents with data below are the ones compiled plans answered.
        assert tally["data"] > 10, tally
    finally:
        for client, manager in zip(clients, apps, strict=True):
            target.run(client.aclose())
            target.run(manager.__aexit__(None, None, None))
