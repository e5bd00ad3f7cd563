"""A browse page of 50 buying groups (account, solution interest, roles, members with person,
completeness, engagement) through HTTP with auth against PostgreSQL, versus two baselines:
the floor (#21): graphql-core's `execute` of the same document on graphql/schema.graphql with
the response data held as plain dicts (default resolvers), what Python GraphQL execution
itself costs; and the same strawberry schema and resolvers fed from memory. Prints p50/p90, the
ratio to the floor (goal <= 1.5x) and SQL statements per request (goal <= 6, the same for any
page size). Then pages of 50 people (account, memberships with group and role, the first 5
activities) and of 50 accounts (parent, the first 10 people, the first 5 children, buying
groups), each next to its own floor. For each page the statements one request sent are also
replayed bare (asyncpg in the same kind of transaction, rows not converted), and the ratio to
floor + bare SQL says how much is left of ours once execution and data access are paid for.
Each person has 8 activities; `--history-months 12` gives each a year of them instead (about
120, in 12 monthly partitions), where counting a person's activities and finding their newest
across partitions show (migration 0019).

    .venv/bin/python -m bench.browse_groups [--requests 200] [--only people] [--history-months 12]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from asgi_lifespan import LifespanManager
from strawberry.dataloader import DataLoader

import graphql
from bench.common import ROOT, demo_groups, fresh_database, percentile, servers, vacuum_analyze
from service.api.context import Context, Services
from service.api.schema import build_schema
from service.app import create_app
from service.infra.auth import Principal, Scope
from service.infra.config import Settings
from service.infra.read_session import ReadSession
from service.store import buying_groups as group_store
from service.store import group_browse as browse_store
from service.store.activities import ensure_partitions, month_start

QUERY = """query Browse($first: Int!) { buyingGroups(first: $first) { totalCount nodes {
  id name status account { name industry } solutionInterest { name }
  roles { role { name } weightPercent memberCount isFilled }
  members { nodes { person { fullName jobTitle email } role { name } source } }
  completeness { value display rolesFilled rolesTotal } engagement { value display } } } }"""

PEOPLE = """query People($first: Int!) { people(first: $first) { totalCount nodes {
  id fullName jobTitle email seniority account { name industry }
  buyingGroupMemberships { source role { name } buyingGroup { name completeness { value } } }
  activities(first: 5) { totalCount nodes { activityDate sourceId primaryAttributeValue } } } } }"""

ACCOUNTS = """query Accounts($first: Int!) { accounts(first: $first) { totalCount nodes {
  id name industry region employeeCount parent { name }
  people(first: 10) { totalCount nodes { fullName jobTitle email } }
  children(first: 5) { totalCount nodes { name } }
  buyingGroups { name completeness { value } engagement { value } } } } }"""


class InMemory:
    """Loaders answering from dicts: the same schema and resolvers, no database."""

    def __init__(self, data: dict[str, dict[Any, Any]]) -> None:
        self.data = data

    def loader(self, name: str, default: Any = None) -> DataLoader[Any, Any]:
        table = self.data[name]

        async def load(keys: list[Any]) -> list[Any]:
            return [table.get(k, default) for k in keys]

        return DataLoader(load_fn=load)


BLOCK = 20


class Floor:
    """graphql-core executing the document over the answer's own data as dicts: no resolver
    of ours, no database (the document parsed and validated once, as a cache would)."""

    def __init__(self, data: dict[str, Any], first: int, query: str = QUERY) -> None:
        self.schema = graphql.build_schema((ROOT / "graphql" / "schema.graphql").read_text())
        self.document = graphql.parse(query)
        assert not graphql.validate(self.schema, self.document)
        self.data, self.first = data, first

    def run(self) -> float:
        """One execution, in milliseconds."""
        started = time.perf_counter()
        result = graphql.execute(self.schema, self.document, root_value=self.data,
                                 variable_values={"first": self.first})
        elapsed = (time.perf_counter() - started) * 1000
        assert not isinstance(result, Awaitable) and result.errors is None, result
        assert result.data == self.data
        return elapsed


class Statements:
    """The SQL statements one request sends (caught on its read session), to be replayed bare:
    what reading the page's data costs without any of our code around it."""

    def __init__(self) -> None:
        self.caught: list[tuple[str, tuple[Any, ...]]] | None = None
        original = ReadSession._count

        def count(session: ReadSession, record: Any) -> None:
            if self.caught is not None:
                self.caught.append((record.query, record.args))
            original(session, record)

        ReadSession._count = count  # type: ignore[method-assign, assignment]

    async def catch(self, client: httpx.AsyncClient, headers: dict[str, str], query: str,
                    first: int) -> list[tuple[str, tuple[Any, ...]]]:
        self.caught = []
        await client.post("/graphql", json={"query": query, "variables": {"first": first}},
                          headers=headers)
        caught, self.caught = self.caught, None
        # The statement binding the tenant is db.tenant's own, replayed by it; asyncpg asks a
        # new connection about types once (pg_catalog), which is no part of the page.
        return [(q, a) for q, a in caught if "set_config" not in q and "pg_catalog" not in q]

    @staticmethod
    async def replay(db: Any, tenant_id: UUID, statements: list[tuple[str, tuple[Any, ...]]],
                     runs: int) -> list[float]:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            async with db.tenant(tenant_id, readonly=True) as conn:
                for query, args in statements:
                    await conn.fetch(query, *args)
            times.append((time.perf_counter() - started) * 1000)
        return times


def floors_line(name: str, p50: float, floor: float, sql: list[float], count: int) -> str:
    bare = statistics.median(sql)
    return (f"  {name}: floor {floor:.1f} ms, the page's {count} statements bare (asyncpg, "
            f"rows not converted) {bare:.1f} ms; ratio to floor + bare SQL "
            f"{p50 / (floor + bare):.2f}x")


async def seed_activities(db: Any, tenant_id: UUID, history_months: int = 0) -> None:
    """Eight activities for each person, a day apart: the people page's nested connection.
    With `history_months`, a longer history instead: one activity every three days (about 10
    a month) for that many months, each month in its own partition."""
    today = datetime.now(UTC).date()
    days = [float(n) for n in (range(3, 30 * history_months + 1, 3) if history_months
                               else range(1, 9))]
    async with db.system() as conn:
        await ensure_partitions(conn, {month_start(today - timedelta(days=n))
                                       for n in range(0, int(max(days)) + 2)})
    async with db.tenant(tenant_id) as conn:
        await conn.execute(
            """INSERT INTO activities (tenant_id, activity_date, source_id, lead_id,
                                       source_type_id, primary_attribute_value)
               SELECT $1, now() - make_interval(secs => n * 86400), p.external_id || '-' || n,
                      p.external_id, 1, 'https://example.com/page/' || n
                 FROM people p CROSS JOIN unnest($2::float8[]) AS n""", tenant_id, days)


async def page_times(client: httpx.AsyncClient, headers: dict[str, str], query: str,
                     first: int, requests: int, floor: bool = True
                     ) -> tuple[list[float], list[float], set[int]]:
    """HTTP times of a page after ten warm-up requests and its statement counts; the floor runs
    in blocks between the requests' (BLOCK each, so both see the same machine while each runs
    warm: one floor run after each request would leave every request cold caches)."""
    times, floors, statements = [], [], set()
    floor_of: Floor | None = None
    for i in range(requests + 10):
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": query,
                                                        "variables": {"first": first}},
                                     headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        body = response.json()
        assert "errors" not in body, body["errors"]
        if floor and floor_of is None:
            floor_of = Floor(body["data"], first, query)
        if i >= 10:
            times.append(elapsed)
            statements.add(body["extensions"]["sqlStatements"])
            if floor_of is not None and len(times) % BLOCK == 0:
                floors += [floor_of.run() for _ in range(BLOCK)]
    return times, floors, statements


async def other_pages(settings: Settings, key: str, requests: int, first: int,
                      db: Any, tenant_id: UUID, statements: Statements,
                      only: str | None = None) -> list[str]:
    """The people and accounts pages, each next to its floors."""
    lines = []
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = {"Authorization": f"Bearer {key}"}
            for name, query in (("people", PEOPLE), ("accounts", ACCOUNTS)):
                if only is not None and name != only:
                    continue
                times, floors, counts = await page_times(client, headers, query, first,
                                                         requests, floor=only is None)
                p50 = statistics.median(times)
                if only is not None:  # for a profiler
                    lines.append(f"HTTP p50 {p50:.1f} ms")
                    continue
                floor = statistics.median(floors)
                caught = await statements.catch(client, headers, query, first)
                bare = await Statements.replay(db, tenant_id, caught, requests)
                lines.append(
                    f"{first} {name} over HTTP + PostgreSQL: p50 {p50:.1f} ms, p90 "
                    f"{percentile(times, 0.9):.1f} ms; ratio to the floor {p50 / floor:.2f}x "
                    f"(goal <= 1.5x); SQL statements {sorted(counts)}")
                lines.append(floors_line(name, p50, floor, bare, len(caught)))
    return lines


async def main(requests: int, first: int, http_only: bool = False,
               only: str | None = None, history_months: int = 0) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        tenant_id, key = await demo_groups(db)
        await seed_activities(db, tenant_id, history_months)
        await vacuum_analyze(url)

        settings = Settings(database_url=url, redis_url=services.redis_url, _env_file=None,
                            log_level="WARNING", expose_sql_statements=True, rate_limit_points=0,
                            response_cache=False,  # measured on its own below
                            # The bench's login owns its database.
                            allow_privileged_database_login=True)  # type: ignore[call-arg]
        sql = Statements()
        if only in ("people", "accounts"):
            print("\n".join(await other_pages(settings, key, requests, first, db, tenant_id,
                                              sql, only)))
            return
        # The same data, in memory.
        async with db.tenant(tenant_id) as conn:
            from service.store.accounts import accounts_by_ids
            from service.store.role_templates import templates_with_roles
            from service.store.solution_interests import interests_by_ids

            page_groups, page_keys, has_next, total = await browse_store.list_groups(
                conn, tenant_id, browse_store.GroupFilter(), order="NAME", descending=False,
                limit=first, after=None)
            ids = [g.id for g in page_groups]
            found = await group_store.members_by_groups(conn, ids)
            accounts = await accounts_by_ids(conn, [g.account_id for g in page_groups])
            interests = await interests_by_ids(conn, [g.solution_interest_id
                                                      for g in page_groups])
            templates, roles = await templates_with_roles(
                conn, [g.role_template_id for g in page_groups])
        memory = InMemory({"buying_group": {g.id: g for g in page_groups}, "group_members":
                           found.members, "person": found.people, "account": accounts,
                           "solution_interest": interests, "role_template": templates,
                           "role": {**roles, **found.roles}})
        schema = build_schema(settings)
        principal = Principal(tenant_id, "Bench", UUID(int=0), frozenset({Scope.READ}))

        async def in_memory_page(*args: Any, **kwargs: Any) -> Any:
            return page_groups, page_keys, has_next, total

        @contextlib.asynccontextmanager
        async def no_db() -> Any:
            yield None

        async def run_in_memory() -> tuple[float, Any]:
            context = Context(request=None, response=None,  # type: ignore[arg-type]
                              services=Services(settings, db, None),  # type: ignore[arg-type]
                              principal=principal, request_id="bench")
            loaders = context.loaders
            for name in memory.data:
                setattr(loaders, name, memory.loader(name))
            loaders.group_members = memory.loader("group_members", [])
            # As the real members loader does: the people and roles of memberships come along.
            for person_id, person in memory.data["person"].items():
                loaders.person.prime(person_id, person)
            for role_id, role in memory.data["role"].items():
                loaders.role.prime(role_id, role)
            context.read = no_db  # type: ignore[method-assign]
            original = browse_store.list_groups
            browse_store.list_groups = in_memory_page
            try:
                started = time.perf_counter()
                result = await schema.execute(QUERY, variable_values={"first": first},
                                              context_value=context)
                elapsed = (time.perf_counter() - started) * 1000
            finally:
                browse_store.list_groups = original
            assert result.errors is None, result.errors
            return elapsed, result.data

        app = create_app(settings)
        http_times, memory_times, floor_times, statements = [], [], [], set()
        floor: Floor | None = None
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = {"Authorization": f"Bearer {key}"}
                body = {"query": QUERY, "variables": {"first": first}}
                # Interleaved, so both see the same machine: warm-up rounds first.
                for i in range(requests + 10):
                    started = time.perf_counter()
                    response = await client.post("/graphql", json=body, headers=headers)
                    http_ms = (time.perf_counter() - started) * 1000
                    result = response.json()
                    assert "errors" not in result, result["errors"]
                    if http_only:  # for a profiler: nothing but the HTTP path
                        http_times.append(http_ms)
                        continue
                    memory_ms, memory_data = await run_in_memory()
                    floor = floor or Floor(result["data"], first)
                    if i >= 10:  # a new connection's first use asks about types once
                        http_times.append(http_ms)
                        memory_times.append(memory_ms)
                        if len(http_times) % BLOCK == 0:  # as in page_times
                            floor_times += [floor.run() for _ in range(BLOCK)]
                        statements.add(result["extensions"]["sqlStatements"])
                if http_only:
                    print(f"HTTP p50 {statistics.median(http_times):.1f} ms")
                    return
                assert memory_data == result["data"], "in-memory run must give the same answer"
                small = await client.post("/graphql", json={"query": QUERY,
                                                            "variables": {"first": 5}},
                                          headers=headers)
                statements_small = small.json()["extensions"]["sqlStatements"]
                caught = await sql.catch(client, headers, QUERY, first)
        bare_sql = await Statements.replay(db, tenant_id, caught, requests)
        # A repeated page from the response cache.
        cached_times = []
        async with LifespanManager(create_app(settings.model_copy(
                update={"response_cache": True}))) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for i in range(requests + 1):
                    started = time.perf_counter()
                    response = await client.post("/graphql", json=body, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    cached = response.json()
                    assert cached["data"] == result["data"]
                    assert cached["extensions"]["cache"] == ("MISS" if i == 0 else "HIT")
                    if i:
                        cached_times.append(elapsed)
        pages = await other_pages(settings, key, requests, first, db, tenant_id, sql)
    http_p50, memory_p50 = statistics.median(http_times), statistics.median(memory_times)
    floor_p50 = statistics.median(floor_times)
    print(f"browse {first} groups over HTTP + PostgreSQL: p50 {http_p50:.1f} ms, "
          f"p90 {percentile(http_times, 0.9):.1f} ms ({requests} requests)")
    print(f"floor, graphql-core execute on dicts:        p50 {floor_p50:.1f} ms")
    print(f"same strawberry schema, data in memory:      p50 {memory_p50:.1f} ms")
    print(f"ratio to the floor: {http_p50 / floor_p50:.2f}x (goal <= 1.5x); to the in-memory "
          f"strawberry run: {http_p50 / memory_p50:.2f}x")
    cached_p50 = statistics.median(cached_times)
    print(f"the same page repeated, from the response cache: p50 {cached_p50:.2f} ms = "
          f"{cached_p50 / floor_p50:.2f}x the floor (goal <= 0.1x)")
    print(f"SQL statements per request: {sorted(statements)} for {first} groups, "
          f"{statements_small} for 5 (goal <= 6)")
    print(floors_line("groups", http_p50, floor_p50, bare_sql, len(caught)))
    print("\n".join(pages))
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--first", type=int, default=50)
    parser.add_argument("--http-only", action="store_true",
                        help="only the HTTP requests, then stop (to run under a profiler)")
    parser.add_argument("--only", choices=["people", "accounts"],
                        help="only this page's HTTP requests (to run under a profiler)")
    parser.add_argument("--history-months", type=int, default=0,
                        help="give each person an activity every 3 days for this many months "
                             "(default: 8 activities, a day apart)")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.first, args.http_only, args.only,
                     args.history_months))
