"""Freshness: from an activity's arrival in the simulator to its effect on a buying group's
engagement value, with the worker running its real cron (sync every --interval seconds).
Goal: one sync interval plus at most 5 s.

    .venv/bin/python -m bench.freshness [--interval 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from datetime import UTC, datetime

import httpx

from bench.common import fresh_database, servers
from bench.ingest_activities import start_simulator
from jobs.rescoring import rescore
from jobs.worker import build_worker
from service.dev.demo import load_demo
from service.infra.config import Settings
from service.store.tenants import create_tenant
from service.usecases.unit_of_work import CLI, SYSTEM, unit_of_work


async def main(interval: int, rounds: int) -> None:
    services = servers()
    port = 18_600 + os.getpid() % 300
    simulator = start_simulator(port)
    sim_url = f"http://127.0.0.1:{port}"
    sim = httpx.AsyncClient(base_url=sim_url)
    await sim.post("/_sim/config", json={"synthetic": False, "reset": True})
    try:
        async with fresh_database(services) as (url, db):
            async with db.as_login() as conn:
                tenant = await create_tenant(conn, "Fresh")
            async with unit_of_work(db, tenant.id, CLI) as work:
                conn = work.conn
                await load_demo(work)
                member = await conn.fetchrow(
                    """SELECT m.buying_group_id, p.external_id FROM buying_group_members m
                         JOIN people p ON p.id = m.person_id WHERE NOT m.is_removed LIMIT 1""")
                assert member is not None
            await rescore(db, tenant.id, None, actor=SYSTEM)
            settings = Settings(database_url=url, redis_url=services.redis_url,
                                activity_api_url=sim_url, activity_sync_interval_seconds=interval,
                                queue_name=f"fresh:{os.getpid()}", _env_file=None)  # type: ignore[call-arg]
            assert settings.database_url and settings.redis_url
            worker = build_worker(settings, settings.database_url, settings.redis_url,
                                  handle_signals=False)
            task = asyncio.create_task(worker.async_run())
            delays = []
            try:
                for _ in range(rounds):
                    async with db.tenant(tenant.id) as conn:
                        before = await conn.fetchval(
                            "SELECT engagement FROM buying_groups WHERE id = $1",
                            member["buying_group_id"])
                    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    await sim.post("/_sim/activities", json=[
                        {"leadId": member["external_id"], "activityTypeId": 1,
                         "activityDate": now}])
                    arrived = time.perf_counter()
                    while time.perf_counter() - arrived < interval * 3 + 30:
                        async with db.tenant(tenant.id) as conn:
                            after = await conn.fetchval(
                                "SELECT engagement FROM buying_groups WHERE id = $1",
                                member["buying_group_id"])
                        if after != before:
                            delays.append(time.perf_counter() - arrived)
                            break
                        await asyncio.sleep(0.2)
                    else:
                        raise RuntimeError("the activity never reached the score")
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await worker.close()
    finally:
        await sim.aclose()
        simulator.terminate()
        services.stop()
    for delay in delays:
        print(f"activity → engagement.value: {delay:.1f} s (sync interval {interval} s)")
    print(f"worst {max(delays):.1f} s; goal <= {interval + 5} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.interval, args.rounds))
