"""A membership mutation end to end: assignBuyingGroupMember and removeBuyingGroupMember through
HTTP (ASGI) on a tenant of 1,000 groups x 10 people with 20 activity-days each, every change
settled in its transaction (completeness, engagement, entry rules). Prints the p50 and p90 and,
as the floor, the same membership write as one bare statement.

    .venv/bin/python -m bench.membership [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
from asgi_lifespan import LifespanManager
from strawberry import relay

from bench.common import build_groups, fresh_database, percentile, servers
from service.app import create_app
from service.infra.auth import Scope
from service.infra.config import Settings
from service.store.api_keys import create_api_key
from service.store.tenants import create_tenant
from service.usecases import unit_of_work

ASSIGN = """mutation($g: ID!, $p: ID!, $r: ID!) {
  assignBuyingGroupMember(input: {buyingGroupId: $g, personId: $p, roleId: $r}) {
    buyingGroup { completeness { value } engagement { value } } userErrors { code } } }"""
REMOVE = """mutation($g: ID!, $p: ID!) {
  removeBuyingGroupMember(input: {buyingGroupId: $g, personId: $p}) {
    buyingGroup { completeness { value } engagement { value } } userErrors { code } } }"""


def gid(type_name: str, node_id: object) -> str:
    return str(relay.GlobalID(type_name, str(node_id)))


async def main(requests: int) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        async with db.as_login() as conn:
            tenant = await create_tenant(conn, "Bench")
            _, key = await create_api_key(conn, tenant.id, "bench", {Scope.WRITE})
        async with db.tenant(tenant.id) as conn:
            await build_groups(conn, tenant.id, groups=1000, per_group=10, days_per_person=20)
            members = await conn.fetch(
                """SELECT m.buying_group_id, m.person_id, m.role_id FROM buying_group_members m
                    ORDER BY m.buying_group_id, m.person_id LIMIT $1""", requests)
            roles = [r["id"] for r in await conn.fetch(
                "SELECT role_id AS id FROM role_template_entries ORDER BY position")]
        # The bench's login owns its database: allowed here (row-level security still holds,
        # each transaction switches to the app role).
        settings = Settings(database_url=url, redis_url=services.redis_url, _env_file=None,
                            log_level="WARNING",
                            allow_privileged_database_login=True)  # type: ignore[call-arg]
        app = create_app(settings)
        times: list[float] = []
        without: list[float] = []  # the outbox switched off for these

        async def no_outbox(*_: object) -> int | None:
            return None

        recording = unit_of_work.record  # type: ignore[attr-defined]
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = {"Authorization": f"Bearer {key}"}
                for i, m in enumerate(members):
                    group, person = gid("BuyingGroup", m["buying_group_id"]), gid(
                        "Person", m["person_id"])
                    if i % 2:
                        body = {"query": REMOVE, "variables": {"g": group, "p": person}}
                    else:
                        other = roles[(roles.index(m["role_id"]) + 1) % len(roles)]
                        body = {"query": ASSIGN, "variables": {"g": group, "p": person,
                                                               "r": gid("Role", other)}}
                    outbox = (i // 10) % 2 == 0
                    unit_of_work.record = recording if outbox else no_outbox  # type: ignore[attr-defined, assignment]
                    started = time.perf_counter()
                    response = await client.post("/graphql", json=body, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    result = response.json()
                    assert "errors" not in result, result
                    payload = next(iter(result["data"].values()))
                    assert payload["userErrors"] == [], payload
                    if i >= 20:
                        (times if outbox else without).append(elapsed)
                unit_of_work.record = recording  # type: ignore[attr-defined]
        floor: list[float] = []
        async with db.tenant(tenant.id) as conn:
            for m in members[:100]:
                started = time.perf_counter()
                await conn.execute(
                    """UPDATE buying_group_members SET role_id = $3, source = 'MANUAL'
                        WHERE buying_group_id = $1 AND person_id = $2""",
                    m["buying_group_id"], m["person_id"], m["role_id"])
                floor.append((time.perf_counter() - started) * 1000)
    p50 = statistics.median(times)
    print(f"membership mutation over HTTP, settled in its transaction: p50 {p50:.2f} ms, "
          f"p90 {percentile(times, 0.9):.2f} ms ({len(times)} requests)")
    print(f"floor, the membership write alone (one statement): p50 "
          f"{statistics.median(floor):.2f} ms; ratio {p50 / statistics.median(floor):.1f}x")
    bare = statistics.median(without)
    print(f"the outbox's share: p50 {bare:.2f} ms without recording events, {p50:.2f} ms with "
          f"= +{(p50 / bare - 1) * 100:.1f} % (goal <= 10 %)")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.requests))
