"""What the API's limits cost: pricing the largest operation in graphql/operations/ (goal
<= 1 ms; printed beside graphql-core's validation of the same document, the floor every
request already pays), and requests per second of a small query with throttling on versus
off (goal >= 0.9x), through the ASGI app against PostgreSQL and Redis.

    .venv/bin/python -m bench.api_limits [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

import graphql
from bench.common import fresh_database, servers
from service.api.execution.cost import requested_cost
from service.api.schema import build_schema
from service.app import create_app
from service.infra.auth import Scope
from service.infra.config import Settings
from service.store.api_keys import create_api_key
from service.store.tenants import create_tenant

ROOT = Path(__file__).resolve().parent.parent
SMALL = "{ viewer { scopes } }"


def largest_operation() -> tuple[str, graphql.DocumentNode, str]:
    """The operation of graphql/operations/ with the longest text (fragments included)."""
    best: tuple[int, str, graphql.DocumentNode, str] | None = None
    for path in sorted((ROOT / "graphql" / "operations").glob("*.graphql")):
        document = graphql.parse(path.read_text())
        for definition in document.definitions:
            if isinstance(definition, graphql.OperationDefinitionNode) and definition.name:
                size = len(graphql.print_ast(definition))
                if best is None or size > best[0]:
                    best = (size, f"{path.name}:{definition.name.value}", document,
                            definition.name.value)
    assert best is not None
    return best[1], best[2], best[3]


def time_per_call(call: object, runs: int) -> float:
    """Median seconds of one call over `runs` (after a warm-up)."""
    assert callable(call)
    for _ in range(50):
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def pricing() -> None:
    schema = build_schema(Settings(_env_file=None))._schema  # type: ignore[call-arg]
    name, document, operation = largest_operation()
    priced = time_per_call(lambda: requested_cost(schema, document, operation), 2000)
    # The operation with the fragments of its file: what a client sends.
    alone = graphql.DocumentNode(definitions=tuple(
        d for d in document.definitions
        if isinstance(d, graphql.FragmentDefinitionNode)
        or (isinstance(d, graphql.OperationDefinitionNode) and d.name
            and d.name.value == operation)))
    validated = time_per_call(lambda: graphql.validate(schema, alone), 500)
    print(f"pricing {name} ({requested_cost(schema, document, operation)} points): "
          f"{priced * 1e6:.0f} µs (goal <= 1000 µs); graphql-core's validation of the same "
          f"operation {validated * 1e6:.0f} µs (ratio {priced / validated:.2f})")


async def requests_per_second(client: httpx.AsyncClient, key: str, requests: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(50):
        await client.post("/graphql", json={"query": SMALL}, headers=headers)
    started = time.perf_counter()
    for _ in range(requests):
        response = await client.post("/graphql", json={"query": SMALL}, headers=headers)
        assert response.status_code == 200, response.text
    return requests / (time.perf_counter() - started)


async def throttling(requests: int) -> None:
    services = servers()
    try:
        async with fresh_database(services) as (url, db):
            async with db.as_login() as conn:
                tenant = await create_tenant(conn, "Bench")
                _, key = await create_api_key(conn, tenant.id, "bench", {Scope.READ})
            rates: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(3):  # alternate, so drift in the machine's load hits both
                for mode in ("off", "on"):
                    settings = Settings(
                        database_url=url, redis_url=services.redis_url, _env_file=None,
                        log_level="WARNING", queue_name=f"bench:{uuid.uuid4().hex[:6]}",
                        allow_privileged_database_login=True,  # the bench owns its database
                        rate_limit_points=100_000 if mode == "on" else 0)  # type: ignore[call-arg]
                    app = create_app(settings)
                    async with LifespanManager(app) as manager:
                        transport = httpx.ASGITransport(app=manager.app)
                        async with httpx.AsyncClient(transport=transport,
                                                     base_url="http://bench") as client:
                            rates[mode].append(await requests_per_second(client, key,
                                                                         requests))
            on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
            print(f"{SMALL}: {on:.0f} requests/s with throttling, {off:.0f} without "
                  f"(ratio {on / off:.2f}, goal >= 0.9)")
    finally:
        services.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    pricing()
    asyncio.run(throttling(args.requests))


if __name__ == "__main__":
    main()
