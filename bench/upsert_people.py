"""upsertPeople with 1,000 people through the GraphQL API (HTTP with auth, in-process ASGI):
ms per call, SQL statements per call, and the ratio to the bare upsert statement alone.

    .venv/bin/python bench/upsert_people.py [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bench.common import fresh_database, percentile, servers
from service.app import create_app
from service.infra.auth import Scope
from service.infra.config import Settings
from service.store.api_keys import create_api_key
from service.store.people import _UPSERT
from service.store.tenants import create_tenant
from service.usecases.catalogue import upsert_accounts
from service.usecases.unit_of_work import CLI, UnitOfWork, unit_of_work

MUTATION = """mutation($people: [PersonInput!]!) { upsertPeople(input: {people: $people}) {
  people { id } userErrors { code } } }"""


def people(call: int) -> list[dict[str, Any]]:
    # Half the calls insert new people, half update the same ones with a new title.
    base = (call // 2) * 1000
    return [{"externalId": f"P{base + i}", "accountExternalId": f"A{i % 200}",
             "firstName": "Ann", "lastName": f"Person {i}", "email": f"p{base + i}@example.com",
             "jobTitle": f"Title {call}", "department": "IT", "attributes": {"n": i}}
            for i in range(1000)]


async def main(calls: int) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        async with db.as_login() as conn:
            tenant = await create_tenant(conn, "Bench")
            _, key = await create_api_key(conn, tenant.id, "bench", {Scope.WRITE})
        async with unit_of_work(db, tenant.id, CLI) as work:
            await upsert_accounts(work, [{"externalId": f"A{i}", "name": f"A {i}"}
                                                    for i in range(200)])
        statements: list[str] = []
        settings = Settings(database_url=url, redis_url=services.redis_url, _env_file=None,
                            log_level="WARNING",  # the bench's login owns its database:
                            allow_privileged_database_login=True)  # type: ignore[call-arg]
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = {"Authorization": f"Bearer {key}"}
                timings = []
                for call in range(calls):
                    body = {"query": MUTATION, "variables": {"people": people(call)}}
                    started = time.perf_counter()
                    response = await client.post("/graphql", json=body, headers=headers)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text[:300]
                    result = response.json()["data"]["upsertPeople"]
                    assert len(result["people"]) == 1000 and not result["userErrors"], result

        # The same statement alone, on one connection, as the baseline.
        bare = []
        async with db.tenant(tenant.id) as conn:
            conn.add_query_logger(lambda record: statements.append(record.query))
            for call in range(calls):
                items = people(call)
                started = time.perf_counter()
                await conn.fetch(_UPSERT, tenant.id, items)
                bare.append((time.perf_counter() - started) * 1000)
            statements.clear()
            from service.usecases.catalogue import upsert_people

            await upsert_people(UnitOfWork(conn, tenant.id, CLI), people(0))
            per_call = len(statements)
    p50, bare_p50 = statistics.median(timings), statistics.median(bare)
    print(f"upsertPeople x1000 via GraphQL: p50 {p50:.1f} ms, p90 "
          f"{percentile(timings, 0.9):.1f} ms over {calls} calls")
    print(f"bare upsert statement:          p50 {bare_p50:.1f} ms")
    print(f"ratio GraphQL / bare:           {p50 / bare_p50:.2f}x")
    print(f"SQL statements per call (store): {per_call} (people table: 1)")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    asyncio.run(main(parser.parse_args().calls))
