"""The console on the demo tenant, in Debian's Chromium: the JavaScript it ships (gzipped; goal
<= 150 KB), the first screen's time from navigation (goal <= 1 s), the groups list of 50 drawn
after its response arrives (goal <= 150 ms), read from the console's own performance marks;
and the cost (`extensions.cost`) of each operation it sends, as the table in docs/console.md.

    .venv/bin/python -m bench.console [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import shutil
import statistics
import subprocess
import sys
from typing import Any

import httpx

from bench.common import ROOT, fresh_database, servers, started
from service.dev.demo import load_demo
from service.http import console
from service.http.graphiql import STATIC
from service.infra.auth import Scope
from service.store.api_keys import create_api_key
from service.store.tenants import create_tenant
from service.usecases.unit_of_work import CLI, unit_of_work

SHIPPED = ["preact-htm.module.js", "uplot.min.js", "graphql-ws.min.js"]
# Each operation with the variables its screen sends first.
OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("ConsoleViewer", {}), ("ConsoleOverview", {}), ("ConsoleCatalogue", {}),
    ("ConsoleGroups", {"filter": {}, "orderBy": {"field": "NAME", "direction": "ASC"},
                       "first": 50, "after": None}),
    ("ConsoleGroup", {"id": "GROUP"}), ("ConsoleGroupTimeline", {"groupId": "GROUP"}),
    ("Recommendations", {"buyingGroupId": "GROUP", "roleId": "ROLE", "first": 5}),
    ("ConsoleJobs", {}), ("ConsoleTemplates", {}), ("Alerts", {"filter": None, "first": 50}),
    ("AlertRules", {}), ("ConsoleActivity", {}),
]


def shipped_kilobytes() -> tuple[float, float]:
    """The console's JavaScript, raw and gzipped, in KB."""
    texts = [(STATIC / name).read_bytes() for name in SHIPPED]
    texts += [p.read_bytes() for p in console.CONSOLE.rglob("*.js")]
    texts.append(console._operations_module().encode())
    return (sum(len(t) for t in texts) / 1024,
            sum(len(gzip.compress(t, 9)) for t in texts) / 1024)


async def costs(api: str, key: str, group: str, role: str) -> list[tuple[str, int, int]]:
    found = []
    operations = console.operations()
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        for name, variables in OPERATIONS:
            given = {k: group if v == "GROUP" else role if v == "ROLE" else v
                     for k, v in variables.items()}
            body = {"operationName": name, "variables": given, "extensions": {
                "persistedQuery": {"version": 1, "sha256Hash": operations[name]["hash"]}}}
            answer = (await client.post("/graphql", json=body,
                                        headers={"Authorization": f"Bearer {key}"})).json()
            assert "errors" not in answer, (name, answer)
            cost = answer["extensions"]["cost"]
            found.append((name, cost["requestedQueryCost"], cost["actualQueryCost"]))
    return found


async def browser_times(api: str, key: str, rounds: int) -> tuple[list[float], list[float]]:
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    first, lists = [], []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                            "--disable-background-networking"])
        try:
            for _ in range(rounds):
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                await page.goto(f"{api}/console#key={key}")
                await page.locator("h1", has_text="Overview").wait_for()
                await page.locator("table.bars").first.wait_for()
                first.append(await page.evaluate(
                    "() => performance.getEntriesByName('ConsoleOverview:drawn')[0].startTime"))
                await page.goto(f"{api}/console#/groups")
                await page.locator("table.list tbody tr").nth(49).wait_for()
                await page.wait_for_timeout(200)
                lists.append(await page.evaluate(
                    "() => performance.getEntriesByName('ConsoleGroups:draw')[0].duration"))
                await page.close()
        finally:
            await browser.close()
    return first, lists


def start_api(database_url: str, redis_url: str, port: int) -> subprocess.Popen[bytes]:
    """An API process on the bench's database, once it answers /readyz."""
    return started(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        f"http://127.0.0.1:{port}/readyz", "the API", cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
             "RESPONSE_CACHE": "false", "LOG_LEVEL": "WARNING",
             "ALLOW_PRIVILEGED_DATABASE_LOGIN": "true"})


async def main(rounds: int) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        async with db.as_login() as conn:
            tenant = await create_tenant(conn, "Console demo")
            _, key = await create_api_key(conn, tenant.id, "bench",
                                          {Scope.READ, Scope.WRITE})
        async with unit_of_work(db, tenant.id, CLI) as work:
            await load_demo(work)
        async with db.tenant(tenant.id, readonly=True) as conn:
            row = await conn.fetchrow(
                """SELECT g.id, e.role_id FROM buying_groups g JOIN role_template_entries e
                     ON e.tenant_id = g.tenant_id AND e.role_template_id = g.role_template_id
                    ORDER BY g.name LIMIT 1""")
            count = await conn.fetchval("SELECT count(*) FROM buying_groups")
        assert row is not None
        from strawberry import relay
        group = str(relay.GlobalID("BuyingGroup", str(row["id"])))
        role = str(relay.GlobalID("Role", str(row["role_id"])))
        port = 18000 + os.getpid() % 1000
        api = f"http://127.0.0.1:{port}"
        process = await asyncio.to_thread(start_api, url, services.redis_url or "", port)
        try:
            table = await costs(api, key, group, role)
            first, lists = await browser_times(api, key, rounds)
        finally:
            process.terminate()
            process.wait(timeout=10)
    raw, packed = shipped_kilobytes()
    print(f"demo tenant: {count} groups")
    print(f"JavaScript shipped: {raw:.1f} KB, {packed:.1f} KB gzipped (goal <= 150 KB)")
    print(f"first screen (overview drawn) after navigation: median "
          f"{statistics.median(first):.0f} ms of {rounds} (goal <= 1000 ms)")
    print(f"groups list of 50 drawn after its response: median "
          f"{statistics.median(lists):.1f} ms of {rounds} (goal <= 150 ms)")
    print("\n| operation | requested cost | actual cost |\n|---|---|---|")
    for name, requested, actual in table:
        print(f"| `{name}` | {requested} | {actual} |")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.rounds))
