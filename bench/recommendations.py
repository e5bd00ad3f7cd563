"""Recommendations for one role of a group whose account holds 5,000 people (10 activity-days
each, a role with two rules): BuyingGroup.recommendations through HTTP (ASGI, the response cache
off so every request runs), against the bare statement that ranks them, in the same run
(goals: p50 <= 20 ms, <= 2x the statement).

    .venv/bin/python -m bench.recommendations [--people 5000] [--requests 200]
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
from service.domain.conditions import ConditionGroup
from service.infra.auth import Scope
from service.infra.config import Settings
from service.store import engagement as engagement_store
from service.store import recommendations as recommendation_store
from service.store.api_keys import create_api_key
from service.store.tenants import create_tenant

RECOMMEND = """query($g: ID!, $r: ID!) { node(id: $g) { ... on BuyingGroup {
  recommendations(roleId: $r, first: 10) { nodes {
    person { id externalId jobTitle } matched conditionsMet engagementPoints
    assignedRole { name } reasons { attribute actual matched } } } } } }"""
RULES = {"match": "ANY", "rules": [
    {"attribute": "jobTitle", "operator": "CONTAINS", "values": ["chief"]},
    {"attribute": "jobTitle", "operator": "CONTAINS", "values": ["officer"]}]}


def gid(type_name: str, node_id: object) -> str:
    return str(relay.GlobalID(type_name, str(node_id)))


async def main(people: int, requests: int) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        async with db.as_login() as conn:
            tenant = await create_tenant(conn, "Bench")
            _, key = await create_api_key(conn, tenant.id, "bench", {Scope.READ})
            await conn.execute("UPDATE activity_types SET source_type_id = n FROM ("
                               "SELECT id, row_number() OVER (ORDER BY name) AS n "
                               "FROM activity_types WHERE tenant_id = $1) t "
                               "WHERE activity_types.id = t.id", tenant.id)
        async with db.tenant(tenant.id) as conn:
            await build_groups(conn, tenant.id, groups=1, per_group=people, days_per_person=10)
            # Titles that meet none, one or both rules; the role takes its rules.
            await conn.execute(
                """UPDATE people SET job_title = (ARRAY['Chief Executive Officer',
                          'Chief of Staff', 'Engineer', 'Analyst', 'Officer'])[1 + abs(
                          hashtext(external_id)) % 5]""")
            entry = await conn.fetchrow(
                "SELECT role_template_id, role_id FROM role_template_entries WHERE position = 0")
            await conn.execute(
                "UPDATE role_template_entries SET conditions = $1::jsonb WHERE position = 0",
                RULES)
            group = await conn.fetchrow("SELECT id, account_id FROM buying_groups")
            assert entry is not None and group is not None
        async with db.as_login() as conn:
            await conn.execute("ANALYZE")
        settings = Settings(database_url=url, redis_url=services.redis_url, _env_file=None,
                            log_level="WARNING", response_cache=False,
                            allow_privileged_database_login=True)  # type: ignore[call-arg]
        app = create_app(settings)
        times: list[float] = []
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                body = {"query": RECOMMEND, "variables": {"g": gid("BuyingGroup", group["id"]),
                                                          "r": gid("Role", entry["role_id"])}}
                headers = {"Authorization": f"Bearer {key}"}
                for i in range(requests + 20):
                    started = time.perf_counter()
                    response = await client.post("/graphql", json=body, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    result = response.json()
                    assert "errors" not in result, result
                    found = result["data"]["node"]["recommendations"]["nodes"]
                    assert len(found) == 10 and found[0]["matched"], found[0]
                    if i >= 20:
                        times.append(elapsed)
        floor: list[float] = []
        conditions = ConditionGroup.from_json(RULES)
        async with db.tenant(tenant.id, readonly=True) as conn:
            inputs = await engagement_store.scoring_inputs(conn, tenant.id)
            for i in range(requests + 20):
                started = time.perf_counter()
                await recommendation_store.recommend(
                    conn, tenant.id, group_id=group["id"], account_id=group["account_id"],
                    descendants=False, role_id=entry["role_id"], conditions=conditions,
                    inputs=inputs, limit=10, offset=0)
                if i >= 20:
                    floor.append((time.perf_counter() - started) * 1000)
    p50, bare = statistics.median(times), statistics.median(floor)
    print(f"recommendations for one role over {people} people, through HTTP: p50 {p50:.2f} ms, "
          f"p90 {percentile(times, 0.9):.2f} ms ({requests} requests; goal p50 <= 20 ms)")
    print(f"floor, the statement that ranks them: p50 {bare:.2f} ms; ratio {p50 / bare:.2f}x "
          f"(goal <= 2x)")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.people, args.requests))
